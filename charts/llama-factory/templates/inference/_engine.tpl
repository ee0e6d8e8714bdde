{{/*
Engine-specific command lines from one engine-neutral set of values (as the managed
platform's SM_VLLM_* / SM_SGLANG_* tables map them for SageMaker).
*/}}

{{/* The port the engine listens on inside the pod; the Service port stays the same for every engine. */}}
{{- define "llama-factory.inference.containerPort" -}}
{{- get (dict "vllm" 8000 "sglang" 30000) .Values.inference.engine -}}
{{- end -}}

{{- define "llama-factory.inference.modelPath" -}}
{{- if eq .Values.inference.modelSource "base" -}}
{{- .Values.storage.paths.baseModel -}}
{{- else -}}
{{- .Values.storage.paths.mergedModel -}}
{{- end -}}
{{- end -}}

{{/* Readiness means "can serve": vLLM's /health answers before the model is loaded. */}}
{{- define "llama-factory.inference.readinessPath" -}}
{{- get (dict "vllm" "/v1/models" "sglang" "/ready") .Values.inference.engine -}}
{{- end -}}

{{/* command + args as a YAML list. */}}
{{- define "llama-factory.inference.command" -}}
{{- $i := .Values.inference -}}
{{- $port := include "llama-factory.inference.containerPort" . -}}
{{- $model := include "llama-factory.inference.modelPath" . -}}
{{- $cmd := list -}}
{{- if eq $i.engine "vllm" -}}
{{- $cmd = list "vllm" "serve" $model
  "--served-model-name" $i.servedModelName
  "--host" "0.0.0.0" "--port" $port
  "--max-model-len" (int64 $i.maxModelLen | toString)
  "--tensor-parallel-size" (int64 $i.tensorParallelSize | toString)
  "--gpu-memory-utilization" (toString $i.gpuMemoryUtilization)
  "--dtype" $i.dtype -}}
{{- else if eq $i.engine "sglang" -}}
{{- $cmd = list "python3" "-m" "sglang.launch_server" "--model-path" $model
  "--served-model-name" $i.servedModelName
  "--host" "0.0.0.0" "--port" $port
  "--context-length" (int64 $i.maxModelLen | toString)
  "--tp-size" (int64 $i.tensorParallelSize | toString)
  "--mem-fraction-static" (toString $i.gpuMemoryUtilization)
  "--dtype" $i.dtype -}}
{{- end -}}
{{- toYaml (concat $cmd $i.extraArgs) -}}
{{- end -}}
