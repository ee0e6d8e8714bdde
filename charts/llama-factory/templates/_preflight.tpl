{{/*
Checks across values that the JSON schema cannot express. Every message names the
field, the value it has and what is allowed. Rendered first by NOTES.txt and by the
ConfigMap (which every release has), so `helm template` and `install` stop here (`helm lint`
3.22 and 4.3 only log a template's `fail` at INFO level and pass).
*/}}
{{- define "llama-factory.preflight" -}}
{{- $v := .Values -}}
{{- $errors := list -}}

{{- /* Namespace: objects go to the release namespace; namespace.name only states which one that should be. */ -}}
{{- if and $v.namespace.name (ne $v.namespace.name .Release.Namespace) -}}
{{- $errors = append $errors (printf "namespace.name is %q but the release is being installed into namespace %q: install with -n %s, or remove namespace.name" $v.namespace.name .Release.Namespace $v.namespace.name) -}}
{{- end -}}

{{- /* Storage */ -}}
{{- if and (eq $v.storage.type "nfs") (not (and $v.storage.nfs.server $v.storage.nfs.path)) -}}
{{- $errors = append $errors "storage.nfs.server and storage.nfs.path: both are required when storage.type is \"nfs\"" -}}
{{- end -}}
{{- if and (eq $v.storage.type "existingClaim") (not $v.storage.existingClaim) -}}
{{- $errors = append $errors "storage.existingClaim: the name of an existing PersistentVolumeClaim is required when storage.type is \"existingClaim\"" -}}
{{- end -}}
{{- if and $v.storage.existingClaim (ne $v.storage.type "existingClaim") -}}
{{- $errors = append $errors (printf "storage.existingClaim: %q would be ignored because storage.type is %q; set storage.type: existingClaim to use that claim, or remove storage.existingClaim" $v.storage.existingClaim $v.storage.type) -}}
{{- end -}}
{{- range $key, $path := $v.storage.paths -}}
{{- if not (hasPrefix (printf "%s/" $v.storage.mountPath) $path) -}}
{{- $errors = append $errors (printf "storage.paths.%s: %q is not under storage.mountPath %q; every path must lie on the shared storage" $key $path $v.storage.mountPath) -}}
{{- end -}}
{{- end -}}
{{- if and $v.merge.adapterPath (not (hasPrefix (printf "%s/" $v.storage.mountPath) $v.merge.adapterPath)) -}}
{{- $errors = append $errors (printf "merge.adapterPath: %q is not under storage.mountPath %q" $v.merge.adapterPath $v.storage.mountPath) -}}
{{- end -}}

{{- /* MLflow */ -}}
{{- if and $v.mlflow.trackingUri $v.mlflow.existingSecret -}}
{{- $errors = append $errors "mlflow.trackingUri and mlflow.existingSecret: set one, not both (the existing Secret already holds MLFLOW_TRACKING_URI)" -}}
{{- end -}}
{{- if and $v.training.enabled (eq $v.training.reportTo "mlflow") (not (include "llama-factory.mlflowEnabled" .)) -}}
{{- $errors = append $errors "mlflow.trackingUri: required when training.enabled is true and training.reportTo is \"mlflow\" (or set mlflow.existingSecret, or training.reportTo: none)" -}}
{{- end -}}

{{- /* Training */ -}}
{{- $t := $v.training -}}
{{- if and (eq $t.stage "ppo") (eq $t.reportTo "mlflow") -}}
{{- $errors = append $errors "training.reportTo: \"mlflow\" is refused by LLaMA-Factory for stage \"ppo\"; allowed for ppo: none, tensorboard" -}}
{{- end -}}
{{- if and (eq $t.stage "ppo") (not $t.rewardModel) -}}
{{- $errors = append $errors "training.rewardModel: required when training.stage is \"ppo\"" -}}
{{- end -}}
{{- $seen := dict -}}
{{- range $i, $d := $t.datasets -}}
{{- if hasKey $seen $d.name -}}
{{- $errors = append $errors (printf "training.datasets[%d].name: %q is listed twice; dataset names must be unique" $i $d.name) -}}
{{- end -}}
{{- $_ := set $seen $d.name true -}}
{{- end -}}

{{- /* Datasets named in extraArgs must be registered, or LLaMA-Factory fails at start-up. */ -}}
{{- range $key := list "dataset" "eval_dataset" -}}
{{- range $name := splitList "," (toString (index $t.extraArgs $key | default "")) -}}
{{- if and (trim $name) (not (hasKey $seen (trim $name))) -}}
{{- $errors = append $errors (printf "training.extraArgs.%s: %q is not one of training.datasets (%s); add it there so it is registered in dataset_info.json" $key (trim $name) (join ", " (keys $seen | sortAlpha))) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- if include "llama-factory.training.easyr1" . -}}
{{- if ne $t.finetuningType "full" -}}
{{- $errors = append $errors (printf "training.finetuningType: stage %q runs on EasyR1, which trains full weights here; set finetuningType: full" $t.stage) -}}
{{- end -}}
{{- if gt (int $t.nodes) 1 -}}
{{- $errors = append $errors (printf "training.nodes: stage %q runs on EasyR1, which spans nodes through Ray, not this chart's Indexed Job; use 1" $t.stage) -}}
{{- end -}}
{{- if lt (int $t.gpus) 1 -}}
{{- $errors = append $errors (printf "training.gpus: stage %q generates rollouts with vLLM and needs at least 1 GPU" $t.stage) -}}
{{- end -}}
{{- end -}}
{{- if and $t.bf16 (lt (int $t.gpus) 1) (not (include "llama-factory.training.easyr1" .)) -}}
{{- $errors = append $errors "training.bf16: bfloat16 training needs a GPU and training.gpus is 0; set bf16: false to train on the CPU" -}}
{{- end -}}
{{- if and (gt (int $t.nodes) 1) (lt (int $t.gpus) 1) -}}
{{- $errors = append $errors (printf "training.gpus: multi-node training (training.nodes %d) needs at least 1 GPU per node" (int $t.nodes)) -}}
{{- end -}}

{{- /* Merge */ -}}
{{- if and $v.merge.enabled (not (has $t.finetuningType (list "lora" "qlora" "oft"))) -}}
{{- $errors = append $errors (printf "merge.enabled: training.finetuningType %q writes full weights, there is no adapter to merge; allowed with lora, qlora, oft" $t.finetuningType) -}}
{{- end -}}
{{- if and $v.merge.enabled (eq $v.merge.exportDevice "auto") (lt (int $v.merge.gpus) 1) -}}
{{- $errors = append $errors "merge.gpus: must be at least 1 when merge.exportDevice is \"auto\"" -}}
{{- end -}}
{{- if and $v.merge.enabled (eq $v.merge.exportDevice "cpu") (gt (int $v.merge.gpus) 0) -}}
{{- $errors = append $errors (printf "merge.gpus: %d GPUs would sit idle with merge.exportDevice \"cpu\"; use 0, or exportDevice \"auto\"" (int $v.merge.gpus)) -}}
{{- end -}}

{{- /* Inference */ -}}
{{- $i := $v.inference -}}
{{- if $i.enabled -}}
{{- if and (ne $i.engine "llamafactory") (lt (int $i.gpus) (int $i.tensorParallelSize)) -}}
{{- $errors = append $errors (printf "inference.gpus: %d is fewer than inference.tensorParallelSize %d; each replica needs one GPU per tensor-parallel rank" (int $i.gpus) (int $i.tensorParallelSize)) -}}
{{- end -}}
{{- if and (eq $i.modelSource "lora") (not $i.lora.adapterPath) (not (has $t.finetuningType (list "lora" "qlora"))) -}}
{{- $errors = append $errors (printf "inference.modelSource: \"lora\" serves the adapter of training.runName, but training.finetuningType %q writes no LoRA adapter; set inference.lora.adapterPath or use merged/base" $t.finetuningType) -}}
{{- end -}}
{{- if and $i.autoscaling.enabled (gt (int $i.autoscaling.minReplicas) (int $i.autoscaling.maxReplicas)) -}}
{{- $errors = append $errors (printf "inference.autoscaling.minReplicas: %d is above maxReplicas %d" (int $i.autoscaling.minReplicas) (int $i.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- if and $i.httpRoute.enabled (not $i.httpRoute.parentRefs) -}}
{{- $errors = append $errors "inference.httpRoute.parentRefs: at least one Gateway is required when inference.httpRoute.enabled is true" -}}
{{- end -}}
{{- if and $i.lora.adapterPath (not (hasPrefix (printf "%s/" $v.storage.mountPath) $i.lora.adapterPath)) -}}
{{- $errors = append $errors (printf "inference.lora.adapterPath: %q is not under storage.mountPath %q" $i.lora.adapterPath $v.storage.mountPath) -}}
{{- end -}}
{{- if and (eq $i.modelSource "lora") (gt (int $i.lora.maxRank) 0) (lt (int $i.lora.maxRank) (int $t.lora.rank)) -}}
{{- $errors = append $errors (printf "inference.lora.maxRank: %d is below training.lora.rank %d; the engine would refuse the adapter at load time; use at least %d, or 0 to pick it" (int $i.lora.maxRank) (int $t.lora.rank) (int $t.lora.rank)) -}}
{{- end -}}
{{- range $arg := $i.extraArgs -}}
{{- range $managed := list "--api-key" "--served-model-name" "--host" "--port" "--model" "--model-path" -}}
{{- if or (eq $arg $managed) (hasPrefix (printf "%s=" $managed) $arg) -}}
{{- $errors = append $errors (printf "inference.extraArgs: %q is set by the chart (API keys never go in args); allowed: other engine flags" $arg) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- if $errors -}}
{{- fail (printf "\n\nllama-factory: invalid values:\n  - %s\n" (join "\n  - " $errors)) -}}
{{- end -}}
{{- end -}}
