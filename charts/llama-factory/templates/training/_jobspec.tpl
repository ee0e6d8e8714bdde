{{/* The training Job's spec; its hash names the Job (see llama-factory.jobName). */}}
{{- define "llama-factory.training.jobSpec" -}}
{{- $t := .Values.training -}}
{{- $nodes := int $t.nodes -}}
{{- $easyr1 := include "llama-factory.training.easyr1" . -}}
{{- $image := index .Values.images (include "llama-factory.training.imageKey" .) -}}
backoffLimit: {{ $t.backoffLimit }}
{{- if not (kindIs "invalid" $t.activeDeadlineSeconds) }}
activeDeadlineSeconds: {{ int64 $t.activeDeadlineSeconds }}
{{- end }}
{{- if not (kindIs "invalid" $t.ttlSecondsAfterFinished) }}
ttlSecondsAfterFinished: {{ int64 $t.ttlSecondsAfterFinished }}
{{- end }}
{{- if gt $nodes 1 }}
# One pod per node; each learns its rank from its completion index.
completionMode: Indexed
completions: {{ $nodes }}
parallelism: {{ $nodes }}
{{- end }}
podFailurePolicy:
  rules:
    # A pod preempted, evicted (a drain) or lost with its node is retried without using up backoffLimit.
    - action: Ignore
      onPodConditions:
        - type: DisruptionTarget
    # Configuration errors no retry can heal fail the run at once: 2 (the init checks' and
    # argparse's usage/configuration error), 126 and 127 (the command is not executable or not
    # in the image).
    - action: FailJob
      onExitCodes:
        operator: In
        values: [2, 126, 127]
    {{- if gt $nodes 1 }}
    # One failed rank breaks the rendezvous of all: fail the run instead of retrying one index.
    - action: FailJob
      onExitCodes:
        containerName: train
        operator: NotIn
        values: [0]
    {{- end }}
template:
  metadata:
    labels:
      {{- include "llama-factory.podLabels" (dict "root" . "component" "training") | nindent 6 }}
      llama-factory.io/run-name: {{ $t.runName }}
    annotations:
      checksum/config: {{ include "llama-factory.checksum" (dict "root" . "parts" (list "paths" "train.yaml" "easyr1.yaml" "dataset_info.json" "mlflow" "check_mlflow.py" "resume_checkpoints.py")) }}
      {{- with $t.podAnnotations }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
  spec:
    restartPolicy: Never
    {{- if gt $nodes 1 }}
    # Pods of an Indexed Job are named <job>-<index>; this gives them DNS names under the rendezvous Service.
    subdomain: {{ include "llama-factory.training.rendezvousService" . }}
    {{- end }}
    {{- include "llama-factory.podCommon" (dict "root" .) | nindent 4 }}
    {{- with include "llama-factory.placement" (dict "root" . "values" $t) | trim }}{{ . | nindent 4 }}{{ end }}
    initContainers:
      {{- if and (eq $t.reportTo "mlflow") (include "llama-factory.mlflowEnabled" .) }}
      {{- include "llama-factory.training.initContainer" (dict "root" . "name" "check-mlflow" "args" (list "/etc/llama-factory/check_mlflow.py")) | nindent 6 }}
      {{- end }}
      {{- if not $easyr1 }}
      {{- include "llama-factory.training.initContainer" (dict "root" . "name" "resume-checkpoints" "args" (list "/etc/llama-factory/resume_checkpoints.py" "$(LORA_OUTPUT_PATH)")) | nindent 6 }}
      {{- end }}
      {{- if gt $nodes 1 }}
      # Start training only once every node's pod is scheduled and has an address, so no
      # rank holds its GPUs waiting at a rendezvous that cannot complete.
      - name: wait-for-peers
        image: {{ include "llama-factory.image" (dict "root" $ "image" $image) }}
        imagePullPolicy: {{ $image.pullPolicy }}
        command: ["sh", "-c", "for i in $(seq 0 $((NNODES - 1))); do until getent hosts \"$JOB_NAME-$i.$RENDEZVOUS\" >/dev/null; do echo \"waiting for rank $i\"; sleep 5; done; done"]
        env:
          {{- include "llama-factory.training.peerEnv" . | nindent 10 }}
        securityContext:
          {{- include "llama-factory.containerSecurityContext" . | nindent 10 }}
        resources:
          requests: {cpu: 10m, memory: 16Mi, ephemeral-storage: 16Mi}
          limits: {cpu: 100m, memory: 64Mi, ephemeral-storage: 64Mi}
      {{- end }}
    containers:
      - name: train
        image: {{ include "llama-factory.image" (dict "root" $ "image" $image) }}
        imagePullPolicy: {{ $image.pullPolicy }}
        {{- if $easyr1 }}
        command: ["python3", "-m", "verl.trainer.main", "config=/etc/llama-factory/easyr1.yaml"]
        {{- else }}
        command: ["llamafactory-cli", "train", "/etc/llama-factory/train.yaml"]
        {{- end }}
        env:
          {{- include "llama-factory.baseEnv" . | nindent 10 }}
          {{- include "llama-factory.pathEnv" . | trim | nindent 10 }}
          {{- with include "llama-factory.training.distributedEnv" . | trim }}{{ . | nindent 10 }}{{ end }}
          {{- if eq $t.reportTo "mlflow" }}
          {{- with include "llama-factory.mlflowEnv" . | trim }}{{ . | nindent 10 }}{{ end }}
          {{- end }}
        {{- if gt $nodes 1 }}
        ports:
          - name: rendezvous
            containerPort: {{ $t.masterPort }}
            protocol: TCP
        {{- end }}
        securityContext:
          {{- include "llama-factory.containerSecurityContext" . | nindent 10 }}
        resources:
          {{- include "llama-factory.resources" (dict "root" . "values" $t) | nindent 10 }}
        volumeMounts:
          {{- include "llama-factory.volumeMounts" . | nindent 10 }}
    volumes:
      {{- include "llama-factory.volumes" (dict "root" . "shmSize" $t.shmSize "values" $t) | nindent 6 }}
{{- end -}}

{{/*
A training init container running one of the chart's scripts (files/) with the training image's
Python, before the trainer loads anything: check-mlflow (MLflow answers) and
resume-checkpoints (incomplete checkpoints set aside). Exit code 2 means a configuration error.
*/}}
{{- define "llama-factory.training.initContainer" -}}
{{- $root := .root -}}
{{- $image := index $root.Values.images (include "llama-factory.training.imageKey" $root) -}}
- name: {{ .name }}
  image: {{ include "llama-factory.image" (dict "root" $root "image" $image) }}
  imagePullPolicy: {{ $image.pullPolicy }}
  command: ["python3", {{ range $i, $a := .args }}{{ if $i }}, {{ end }}{{ $a | quote }}{{ end }}]
  env:
    {{- if eq .name "check-mlflow" }}
    {{- include "llama-factory.mlflowConnectionEnv" $root | trim | nindent 4 }}
    {{- else }}
    {{- include "llama-factory.pathEnvOf" (dict "root" $root "keys" (list "LORA_OUTPUT_PATH")) | trim | nindent 4 }}
    {{- end }}
  securityContext:
    {{- include "llama-factory.containerSecurityContext" $root | nindent 4 }}
  resources:
    requests: {cpu: 10m, memory: 64Mi, ephemeral-storage: 16Mi}
    limits: {cpu: 500m, memory: 256Mi, ephemeral-storage: 64Mi}
  volumeMounts:
    {{- if ne .name "check-mlflow" }}
    - name: storage
      mountPath: {{ $root.Values.storage.mountPath }}
    {{- end }}
    - name: config
      mountPath: /etc/llama-factory
      readOnly: true
{{- end -}}

{{/* "true" for the stages EasyR1 trains (grpo, dapo), which LLaMA-Factory lacks; nothing otherwise. */}}
{{- define "llama-factory.training.easyr1" -}}
{{- if has .Values.training.stage (list "grpo" "dapo") -}}true{{- end -}}
{{- end -}}

{{/* The images.* entry the training pods run: easyr1 for the EasyR1 stages, training otherwise. */}}
{{- define "llama-factory.training.imageKey" -}}
{{- if include "llama-factory.training.easyr1" . -}}easyr1{{- else -}}training{{- end -}}
{{- end -}}

{{- define "llama-factory.training.rendezvousService" -}}
{{- include "llama-factory.componentName" (dict "root" . "suffix" "train-rdzv") -}}
{{- end -}}

{{/* Where the peers of a multi-node run are: their Job, rendezvous Service and count. */}}
{{- define "llama-factory.training.peerEnv" -}}
- name: JOB_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.labels['batch.kubernetes.io/job-name']
- name: RENDEZVOUS
  value: {{ include "llama-factory.training.rendezvousService" . | quote }}
- name: NNODES
  value: {{ .Values.training.nodes | quote }}
{{- end -}}

{{/* Who this pod is in a multi-node run: its peers, its rank, and where rank 0 listens. */}}
{{- define "llama-factory.training.rankEnv" -}}
{{ include "llama-factory.training.peerEnv" . }}
- name: NODE_RANK
  valueFrom:
    fieldRef:
      fieldPath: metadata.annotations['batch.kubernetes.io/job-completion-index']
- name: MASTER_ADDR
  value: "$(JOB_NAME)-0.$(RENDEZVOUS)"
- name: MASTER_PORT
  value: {{ .Values.training.masterPort | quote }}
{{- end -}}

{{/*
How LLaMA-Factory spreads over GPUs: `llamafactory-cli train` relaunches itself under
torchrun when FORCE_TORCHRUN is set; DeepSpeed needs torchrun even on one GPU.
*/}}
{{- define "llama-factory.training.distributedEnv" -}}
{{- $t := .Values.training -}}
{{- if and (not (include "llama-factory.training.easyr1" .)) (or (gt (int $t.gpus) 1) (gt (int $t.nodes) 1) (ne $t.deepspeed "none")) }}
- name: FORCE_TORCHRUN
  value: "1"
- name: NPROC_PER_NODE
  value: {{ max 1 (int $t.gpus) | quote }}
{{- if gt (int $t.nodes) 1 }}
{{ include "llama-factory.training.rankEnv" . }}
{{- end }}
{{- end }}
{{- end -}}
