{{/*
The generated LLaMA-Factory files and path variables. Each is a named template so the
ConfigMap renders them and each workload hashes exactly the parts it consumes.
*/}}

{{- define "llama-factory.config.paths" -}}
BASE_MODEL_PATH: {{ .Values.storage.paths.baseModel | quote }}
DATASET_PATH: {{ .Values.storage.paths.data | quote }}
LORA_OUTPUT_PATH: {{ include "llama-factory.runOutputPath" . | quote }}
MERGED_MODEL_PATH: {{ .Values.storage.paths.mergedModel | quote }}
{{- end -}}

{{/* The MLflow connection workloads receive; only its hash goes on pod templates. */}}
{{- define "llama-factory.config.mlflow" -}}
{{- with .Values.mlflow -}}
{{ list .existingSecret .trackingUri .username .password .token .experimentName | toJson }}
{{- end -}}
{{- end -}}

{{/* Every dataset the run names is registered here (the seed named one and never registered it). */}}
{{- define "llama-factory.config.dataset_info.json" -}}
{{- $info := dict -}}
{{- range .Values.training.datasets -}}
{{- $file := .fileName -}}
{{- if not (hasPrefix "/" $file) -}}{{- $file = printf "%s/%s" $.Values.storage.paths.data $file -}}{{- end -}}
{{- $entry := dict "file_name" $file "formatting" (default "alpaca" .formatting) -}}
{{- if .ranking -}}{{- $_ := set $entry "ranking" true -}}{{- end -}}
{{- with .columns -}}{{- $_ := set $entry "columns" . -}}{{- end -}}
{{- $_ := set $info .name $entry -}}
{{- end -}}
{{- toPrettyJson $info -}}
{{- end -}}

{{- define "llama-factory.config.train.yaml" -}}
{{- $t := .Values.training -}}
{{- $names := list -}}
{{- range $t.datasets -}}{{- $names = append $names .name -}}{{- end -}}
{{- $cfg := dict
  "model_name_or_path" .Values.storage.paths.baseModel
  "trust_remote_code" true
  "stage" $t.stage
  "do_train" true
  "finetuning_type" (ternary "lora" $t.finetuningType (eq $t.finetuningType "qlora"))
  "dataset" (join "," $names)
  "dataset_dir" "/etc/llama-factory"
  "template" $t.template
  "cutoff_len" $t.cutoffLen
  "overwrite_cache" true
  "preprocessing_num_workers" 4
  "output_dir" (include "llama-factory.runOutputPath" .)
  "logging_steps" $t.loggingSteps
  "save_steps" $t.saveSteps
  "plot_loss" true
  "report_to" $t.reportTo
  "run_name" $t.runName
  "per_device_train_batch_size" $t.perDeviceTrainBatchSize
  "gradient_accumulation_steps" $t.gradientAccumulationSteps
  "learning_rate" $t.learningRate
  "num_train_epochs" $t.numTrainEpochs
  "lr_scheduler_type" $t.lrSchedulerType
  "warmup_ratio" $t.warmupRatio
  "bf16" $t.bf16
  "ddp_timeout" 180000000
-}}
{{- if has $t.finetuningType (list "lora" "qlora") -}}
{{- $_ := set $cfg "lora_rank" $t.lora.rank -}}
{{- $_ := set $cfg "lora_alpha" $t.lora.alpha -}}
{{- $_ := set $cfg "lora_dropout" $t.lora.dropout -}}
{{- $_ := set $cfg "lora_target" $t.lora.target -}}
{{- end -}}
{{- if eq $t.finetuningType "qlora" -}}
{{- $_ := set $cfg "quantization_bit" $t.quantization.bits -}}
{{- $_ := set $cfg "quantization_method" $t.quantization.method -}}
{{- end -}}
{{- if not (kindIs "invalid" $t.maxSamples) -}}
{{- $_ := set $cfg "max_samples" $t.maxSamples -}}
{{- end -}}
{{- if $t.rewardModel -}}
{{- $_ := set $cfg "reward_model" $t.rewardModel -}}
{{- end -}}
{{- include "llama-factory.yamlDocument" (merge (deepCopy $t.extraArgs) $cfg) -}}
{{- end -}}

{{/* Base + adapter -> merged model. Always the unquantized base: merging into a quantized model is refused. */}}
{{- define "llama-factory.config.merge.yaml" -}}
{{- $cfg := dict
  "model_name_or_path" .Values.storage.paths.baseModel
  "adapter_name_or_path" (include "llama-factory.mergeAdapterPath" .)
  "template" .Values.training.template
  "finetuning_type" (ternary "lora" .Values.training.finetuningType (eq .Values.training.finetuningType "qlora"))
  "trust_remote_code" true
  "export_dir" .Values.storage.paths.mergedModel
  "export_size" .Values.merge.exportSize
  "export_device" .Values.merge.exportDevice
  "export_legacy_format" .Values.merge.exportLegacyFormat
-}}
{{- include "llama-factory.yamlDocument" $cfg -}}
{{- end -}}

{{- define "llama-factory.mergeAdapterPath" -}}
{{- default (include "llama-factory.runOutputPath" .) .Values.merge.adapterPath -}}
{{- end -}}

{{/*
A flat YAML document written key by key. toYaml would print small floats as 1e-05 and
large integers as 1.8e+08, which Python's YAML loader reads as strings: LLaMA-Factory
would then get learning_rate="1e-05". Floats are written in plain decimal instead.
*/}}
{{- define "llama-factory.yamlDocument" -}}
{{- range $key := keys . | sortAlpha }}
{{ $key }}: {{ include "llama-factory.yamlValue" (index $ $key) }}
{{- end }}
{{- end -}}

{{- define "llama-factory.yamlValue" -}}
{{- if kindIs "float64" . -}}
{{- if eq (floor .) . -}}{{ int64 . }}{{- else -}}{{ regexReplaceAll "0+$" (printf "%.12f" .) "" }}{{- end -}}
{{- else if kindIs "invalid" . -}}null
{{- else if or (kindIs "string" .) (kindIs "map" .) (kindIs "slice" .) -}}{{ toJson . }}
{{- else -}}{{ . }}
{{- end -}}
{{- end -}}
