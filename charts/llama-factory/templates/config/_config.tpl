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

{{/* The paths that stay the same from one training run to the next: what the WebUI and the
inference engine hash, so that a new run (a new LORA_OUTPUT_PATH) restarts neither. */}}
{{- define "llama-factory.config.storagePaths" -}}
{{- list .Values.storage.paths.baseModel .Values.storage.paths.data .Values.storage.paths.mergedModel | toJson -}}
{{- end -}}

{{/* The MLflow connection workloads receive; only its hash goes on pod templates. */}}
{{- define "llama-factory.config.mlflow" -}}
{{- with .Values.mlflow -}}
{{ list .existingSecret .trackingUri .username .password .token .experimentName | toJson }}
{{- end -}}
{{- end -}}

{{/*
Every dataset the run names is registered here (the seed named one and never registered it),
with the columns its stage reads: preference stages (rm, dpo) get ranking and chosen/rejected,
kto its kto_tag, pt the raw text. Columns the user gives win.
*/}}
{{- define "llama-factory.config.dataset_info.json" -}}
{{- $stage := .Values.training.stage -}}
{{- $stageColumns := dict
  "pt" (dict "prompt" "text")
  "rm" (dict "prompt" "instruction" "query" "input" "chosen" "chosen" "rejected" "rejected")
  "dpo" (dict "prompt" "instruction" "query" "input" "chosen" "chosen" "rejected" "rejected")
  "kto" (dict "prompt" "instruction" "query" "input" "response" "output" "kto_tag" "kto_tag")
-}}
{{- $info := dict -}}
{{- range .Values.training.datasets -}}
{{- $file := .fileName -}}
{{- if not (hasPrefix "/" $file) -}}{{- $file = printf "%s/%s" $.Values.storage.paths.data $file -}}{{- end -}}
{{- $formatting := default "alpaca" .formatting -}}
{{- $entry := dict "file_name" $file "formatting" $formatting -}}
{{- if or .ranking (has $stage (list "rm" "dpo")) -}}{{- $_ := set $entry "ranking" true -}}{{- end -}}
{{- $columns := deepCopy (default dict .columns) -}}
{{- if eq $formatting "alpaca" -}}{{- $columns = merge $columns (get $stageColumns $stage | default dict) -}}{{- end -}}
{{- with $columns -}}{{- $_ := set $entry "columns" . -}}{{- end -}}
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
{{- if not (kindIs "invalid" $t.saveTotalLimit) -}}
{{- $_ := set $cfg "save_total_limit" (int $t.saveTotalLimit) -}}
{{- end -}}
{{- if eq $t.stage "ppo" -}}
{{- $_ := set $cfg "reward_model" $t.rewardModel -}}
{{- $_ := set $cfg "reward_model_type" $t.rewardModelType -}}
{{- end -}}
{{- if has $t.stage (list "dpo" "kto") -}}
{{- $_ := set $cfg "pref_beta" $t.preference.beta -}}
{{- end -}}
{{- if eq $t.stage "dpo" -}}
{{- $_ := set $cfg "pref_loss" $t.preference.loss -}}
{{- end -}}
{{- if ne $t.deepspeed "none" -}}
{{- $_ := set $cfg "deepspeed" (printf "/etc/llama-factory/ds_%s.json" $t.deepspeed) -}}
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

{{/* The training pod's init scripts (see their docstrings), shipped in the ConfigMap. */}}
{{- define "llama-factory.config.resume_checkpoints.py" -}}
{{- .Files.Get "files/resume_checkpoints.py" -}}
{{- end -}}

{{- define "llama-factory.config.check_mlflow.py" -}}
{{- .Files.Get "files/check_mlflow.py" -}}
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

{{/* DeepSpeed ZeRO configs; "auto" lets the HF Trainer fill in batch sizes and precision. */}}
{{- define "llama-factory.config.ds_z2.json" -}}
{{- toPrettyJson (dict
  "train_batch_size" "auto" "train_micro_batch_size_per_gpu" "auto" "gradient_accumulation_steps" "auto"
  "gradient_clipping" "auto" "zero_allow_untested_optimizer" true
  "fp16" (dict "enabled" "auto" "loss_scale" 0 "loss_scale_window" 1000 "initial_scale_power" 16 "hysteresis" 2 "min_loss_scale" 1)
  "bf16" (dict "enabled" "auto")
  "zero_optimization" (dict "stage" 2 "allgather_partitions" true "allgather_bucket_size" 500000000 "overlap_comm" false
    "reduce_scatter" true "reduce_bucket_size" 500000000 "contiguous_gradients" true "round_robin_gradients" true)) -}}
{{- end -}}

{{- define "llama-factory.config.ds_z3.json" -}}
{{- toPrettyJson (dict
  "train_batch_size" "auto" "train_micro_batch_size_per_gpu" "auto" "gradient_accumulation_steps" "auto"
  "gradient_clipping" "auto" "zero_allow_untested_optimizer" true
  "fp16" (dict "enabled" "auto" "loss_scale" 0 "loss_scale_window" 1000 "initial_scale_power" 16 "hysteresis" 2 "min_loss_scale" 1)
  "bf16" (dict "enabled" "auto")
  "zero_optimization" (dict "stage" 3 "overlap_comm" false "contiguous_gradients" true "sub_group_size" 1000000000
    "reduce_bucket_size" "auto" "stage3_prefetch_bucket_size" "auto" "stage3_param_persistence_threshold" "auto"
    "stage3_max_live_parameters" 1000000000 "stage3_max_reuse_distance" 1000000000
    "stage3_gather_16bit_weights_on_model_save" true)) -}}
{{- end -}}

{{/* EasyR1's config for the RL stages LLaMA-Factory lacks (grpo, dapo); empty otherwise. */}}
{{- define "llama-factory.config.easyr1.yaml" -}}
{{- $t := .Values.training -}}
{{- if include "llama-factory.training.easyr1" . -}}
{{- $e := $t.easyr1 -}}
{{- $train := (first $t.datasets).fileName -}}
{{- if not (hasPrefix "/" $train) -}}{{- $train = printf "%s/%s" .Values.storage.paths.data $train -}}{{- end -}}
{{- $val := default $train $e.valFileName -}}
{{- if not (hasPrefix "/" $val) -}}{{- $val = printf "%s/%s" .Values.storage.paths.data $val -}}{{- end -}}
{{- $data := dict "train_files" $train "val_files" $val "prompt_key" $e.promptKey "answer_key" $e.answerKey
  "max_prompt_length" (int $e.maxPromptLength) "max_response_length" (int $e.maxResponseLength)
  "rollout_batch_size" (int $e.rolloutBatchSize) -}}
{{- with $e.formatPrompt -}}{{- $_ := set $data "format_prompt" . -}}{{- end -}}
{{- $algorithm := dict "adv_estimator" "grpo" -}}
{{- $actor := dict "global_batch_size" (int $e.globalBatchSize) "model" (dict "model_path" .Values.storage.paths.baseModel "trust_remote_code" true) -}}
{{- $reward := dict "reward_type" "batch" "reward_function" $e.rewardFunction -}}
{{- if eq $t.stage "dapo" -}}
{{- /* EasyR1's DAPO recipe: GRPO without KL, with online filtering and asymmetric clipping. */ -}}
{{- $algorithm = merge $algorithm (dict "disable_kl" true "online_filtering" true "filter_key" "accuracy_normalized" "filter_low" 0.01 "filter_high" 0.99) -}}
{{- $actor = merge $actor (dict "clip_ratio_low" 0.2 "clip_ratio_high" 0.28 "clip_ratio_dual" 10.0) -}}
{{- end -}}
{{- $loggers := list "console" -}}
{{- if eq $t.reportTo "mlflow" -}}{{- $loggers = append $loggers "mlflow" -}}{{- end -}}
{{- if eq $t.reportTo "tensorboard" -}}{{- $loggers = append $loggers "tensorboard" -}}{{- end -}}
{{- $cfg := dict
  "data" $data
  "algorithm" $algorithm
  "worker" (dict "actor" $actor
                 "rollout" (dict "n" (int $e.rolloutN) "tensor_parallel_size" (int $e.rolloutTensorParallelSize) "gpu_memory_utilization" $e.rolloutGpuMemoryUtilization)
                 "reward" $reward)
  "trainer" (dict "total_epochs" (int (ceil $t.numTrainEpochs)) "project_name" .Values.mlflow.experimentName
                  "experiment_name" $t.runName "logger" $loggers "nnodes" 1 "n_gpus_per_node" (max 1 (int $t.gpus))
                  "save_freq" (int $e.saveFreq) "save_limit" (ternary -1 (int $t.saveTotalLimit) (kindIs "invalid" $t.saveTotalLimit)) "save_checkpoint_path" (include "llama-factory.runOutputPath" .))
-}}
{{- toYaml (merge (deepCopy $t.extraArgs) $cfg) -}}
{{- end -}}
{{- end -}}
