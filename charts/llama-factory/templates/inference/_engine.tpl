{{/*
Engine-specific command lines from one engine-neutral set of values (as the managed
platform's SM_VLLM_* / SM_SGLANG_* tables map them for SageMaker).
*/}}

{{/* The port the engine listens on inside the pod; the Service port stays the same for every engine. */}}
{{- define "llama-factory.inference.containerPort" -}}
{{- get (dict "vllm" 8000 "sglang" 30000 "llamafactory" 8000) .Values.inference.engine -}}
{{- end -}}

{{/* The model the engine loads: the adapter of modelSource `lora` rides on the base model. */}}
{{- define "llama-factory.inference.modelPath" -}}
{{- if eq .Values.inference.modelSource "merged" -}}
{{- .Values.storage.paths.mergedModel -}}
{{- else -}}
{{- .Values.storage.paths.baseModel -}}
{{- end -}}
{{- end -}}

{{/* The init container that waits until every file the engine loads first is on the storage. */}}
{{- define "llama-factory.inference.waitForModel" -}}
{{- $i := .Values.inference -}}
{{- $image := include "llama-factory.inference.image" . | fromJson -}}
{{- /* A merged model is complete once its tokenizer is written: LLaMA-Factory's export saves the
weights first. A base model is the user's, there before the release. */ -}}
{{- $last := ternary "tokenizer_config.json" "config.json" (eq $i.modelSource "merged") -}}
{{- $files := list (printf "%s/%s" (include "llama-factory.inference.modelPath" .) $last) -}}
{{- if eq $i.modelSource "lora" -}}
{{- $files = append $files (printf "%s/adapter_config.json" (include "llama-factory.inference.adapterPath" .)) -}}
{{- end -}}
- name: wait-for-model
  image: {{ include "llama-factory.image" (dict "root" $ "image" $image) }}
  imagePullPolicy: {{ $image.pullPolicy }}
  command: ["sh", "-c", "for f in $MODEL_FILES; do until [ -f \"$f\" ]; do echo \"waiting for $f\"; sleep 10; done; done"]
  env:
    - name: MODEL_FILES
      value: {{ join " " $files | quote }}
  securityContext:
    {{- include "llama-factory.containerSecurityContext" . | nindent 4 }}
  resources:
    requests: {cpu: 10m, memory: 16Mi, ephemeral-storage: 16Mi}
    limits: {cpu: 100m, memory: 64Mi, ephemeral-storage: 64Mi}
  volumeMounts:
    - name: storage
      mountPath: {{ .Values.storage.mountPath }}
      readOnly: true
{{- end -}}

{{- define "llama-factory.inference.adapterPath" -}}
{{- default (include "llama-factory.runOutputPath" .) .Values.inference.lora.adapterPath -}}
{{- end -}}

{{- define "llama-factory.inference.adapterName" -}}
{{- default (printf "%s-lora" .Values.inference.servedModelName) .Values.inference.lora.name -}}
{{- end -}}

{{/* vLLM accepts only these LoRA ranks; the smallest one that holds the trained rank. */}}
{{- define "llama-factory.inference.maxLoraRank" -}}
{{- $rank := int .Values.inference.lora.maxRank -}}
{{- if eq $rank 0 -}}
{{- $trained := int .Values.training.lora.rank -}}
{{- $rank = 512 -}}
{{- range $allowed := list 512 320 256 128 64 32 16 8 -}}
{{- if ge $allowed $trained -}}{{- $rank = $allowed -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- $rank -}}
{{- end -}}

{{/* Readiness means "can serve": vLLM's /health answers before the model is loaded. */}}
{{- define "llama-factory.inference.readinessPath" -}}
{{- get (dict "vllm" "/v1/models" "sglang" "/ready" "llamafactory" "/v1/models") .Values.inference.engine -}}
{{- end -}}

{{/* The environment variable holding the API key inside the engine container. */}}
{{- define "llama-factory.inference.apiKeyEnv" -}}
{{- get (dict "vllm" "VLLM_API_KEY" "sglang" "SGLANG_API_KEY" "llamafactory" "API_KEY") .Values.inference.engine -}}
{{- end -}}

{{- define "llama-factory.inference.apiKeySecretName" -}}
{{- default (include "llama-factory.componentName" (dict "root" . "suffix" "api-key")) .Values.inference.apiKey.existingSecret -}}
{{- end -}}

{{/* command + args as a YAML list. */}}
{{- define "llama-factory.inference.command" -}}
{{- $i := .Values.inference -}}
{{- $port := include "llama-factory.inference.containerPort" . -}}
{{- $model := include "llama-factory.inference.modelPath" . -}}
{{- $lora := eq $i.modelSource "lora" -}}
{{- $loraModule := printf "%s=%s" (include "llama-factory.inference.adapterName" .) (include "llama-factory.inference.adapterPath" .) -}}
{{- $cmd := list -}}
{{- if eq $i.engine "vllm" -}}
{{- $cmd = list "vllm" "serve" $model
  "--served-model-name" $i.servedModelName
  "--host" "0.0.0.0" "--port" $port
  "--max-model-len" (int64 $i.maxModelLen | toString)
  "--tensor-parallel-size" (int64 $i.tensorParallelSize | toString)
  "--gpu-memory-utilization" (toString $i.gpuMemoryUtilization)
  "--dtype" $i.dtype -}}
{{- if $lora -}}
{{- $cmd = concat $cmd (list "--enable-lora" "--lora-modules" $loraModule "--max-lora-rank" (include "llama-factory.inference.maxLoraRank" .)) -}}
{{- end -}}
{{- /* vLLM reads VLLM_API_KEY from its environment: nothing to pass. */ -}}
{{- else if eq $i.engine "sglang" -}}
{{- $cmd = list "python3" "-m" "sglang.launch_server" "--model-path" $model
  "--served-model-name" $i.servedModelName
  "--host" "0.0.0.0" "--port" $port
  "--context-length" (int64 $i.maxModelLen | toString)
  "--tp-size" (int64 $i.tensorParallelSize | toString)
  "--mem-fraction-static" (toString $i.gpuMemoryUtilization)
  "--dtype" $i.dtype -}}
{{- if $lora -}}
{{- $cmd = concat $cmd (list "--enable-lora" "--lora-paths" $loraModule "--max-lora-rank" (include "llama-factory.inference.maxLoraRank" .)) -}}
{{- end -}}
{{- if $i.apiKey.enabled -}}
{{- /* The kubelet expands $(VAR) from the container's env: the pod spec holds only the reference. */ -}}
{{- $cmd = concat $cmd (list "--api-key" "$(SGLANG_API_KEY)") -}}
{{- end -}}
{{- else if eq $i.engine "llamafactory" -}}
{{- /* Host, port, model name and key come from API_* environment variables. */ -}}
{{- $cmd = list "llamafactory-cli" "api" "/etc/llama-factory/api.yaml" -}}
{{- end -}}
{{- toYaml (concat $cmd $i.extraArgs) -}}
{{- end -}}

{{/* Engine-specific environment. */}}
{{- define "llama-factory.inference.env" -}}
{{- $i := .Values.inference -}}
{{- if eq $i.engine "llamafactory" }}
- name: API_HOST
  value: "0.0.0.0"
- name: API_PORT
  value: {{ include "llama-factory.inference.containerPort" . | quote }}
- name: API_MODEL_NAME
  value: {{ $i.servedModelName | quote }}
{{- end }}
{{- if $i.apiKey.enabled }}
- name: {{ include "llama-factory.inference.apiKeyEnv" . }}
  valueFrom:
    secretKeyRef:
      name: {{ include "llama-factory.inference.apiKeySecretName" . }}
      key: {{ $i.apiKey.existingSecretKey }}
{{- end }}
{{- end -}}

{{/*
Readiness: "can serve". With an API key vLLM's and LLaMA-Factory's /v1/models need it, and an
httpGet probe cannot read a Secret, so the probe runs in the container and takes the key
from its environment.
*/}}
{{- define "llama-factory.inference.readinessCheck" -}}
{{- $i := .Values.inference -}}
{{- /* SGLang leaves /ready (and /health) open whatever the key. */ -}}
{{- if and $i.apiKey.enabled (ne $i.engine "sglang") -}}
{{- $url := printf "http://127.0.0.1:%s/v1/models" (include "llama-factory.inference.containerPort" .) -}}
{{- $script := printf "import os, urllib.request; urllib.request.urlopen(urllib.request.Request('%s', headers={'Authorization': 'Bearer ' + os.environ['%s']}), timeout=%d)" $url (include "llama-factory.inference.apiKeyEnv" .) (int $i.readinessProbe.timeoutSeconds) -}}
exec:
  command: ["python3", "-c", {{ $script | quote }}]
{{- else -}}
httpGet: {path: {{ include "llama-factory.inference.readinessPath" . }}, port: http}
{{- end -}}
{{- end -}}

{{/* Liveness and startup: /health (open whatever the key), or a TCP check for LLaMA-Factory's API, which has no health route. */}}
{{- define "llama-factory.inference.healthCheck" -}}
{{- if eq .Values.inference.engine "llamafactory" -}}
tcpSocket: {port: http}
{{- else -}}
httpGet: {path: /health, port: http}
{{- end -}}
{{- end -}}

{{/* LLaMA-Factory's API server config (engine `llamafactory`). */}}
{{- define "llama-factory.config.api.yaml" -}}
{{- $cfg := dict
  "model_name_or_path" (include "llama-factory.inference.modelPath" .)
  "template" .Values.training.template
  "infer_backend" "huggingface"
  "trust_remote_code" true
-}}
{{- if eq .Values.inference.modelSource "lora" -}}
{{- $_ := set $cfg "adapter_name_or_path" (include "llama-factory.inference.adapterPath" .) -}}
{{- $_ := set $cfg "finetuning_type" "lora" -}}
{{- end -}}
{{- include "llama-factory.yamlDocument" $cfg -}}
{{- end -}}

{{/* The engine's image as JSON; engine `llamafactory` runs in the training image. */}}
{{- define "llama-factory.inference.image" -}}
{{- $engine := .Values.inference.engine -}}
{{- toJson (get .Values.images (ternary "training" $engine (eq $engine "llamafactory"))) -}}
{{- end -}}

{{/* The model name requests carry: the adapter's when vLLM or SGLang serve a LoRA adapter by name. */}}
{{- define "llama-factory.inference.requestModel" -}}
{{- if and (eq .Values.inference.modelSource "lora") (ne .Values.inference.engine "llamafactory") -}}
{{- include "llama-factory.inference.adapterName" . -}}
{{- else -}}
{{- .Values.inference.servedModelName -}}
{{- end -}}
{{- end -}}
