{{/* The training Job's spec; its hash names the Job (see llama-factory.jobName). */}}
{{- define "llama-factory.training.jobSpec" -}}
{{- $t := .Values.training -}}
backoffLimit: {{ $t.backoffLimit }}
{{- if not (kindIs "invalid" $t.activeDeadlineSeconds) }}
activeDeadlineSeconds: {{ int64 $t.activeDeadlineSeconds }}
{{- end }}
{{- if not (kindIs "invalid" $t.ttlSecondsAfterFinished) }}
ttlSecondsAfterFinished: {{ int64 $t.ttlSecondsAfterFinished }}
{{- end }}
template:
  metadata:
    labels:
      {{- include "llama-factory.podLabels" (list . "training") | nindent 6 }}
      llama-factory.io/run-name: {{ $t.runName }}
    annotations:
      checksum/config: {{ include "llama-factory.checksum" (list . "paths" "train.yaml" "dataset_info.json" "mlflow") }}
  spec:
    restartPolicy: Never
    {{- include "llama-factory.podCommon" . | nindent 4 }}
    {{- with include "llama-factory.placement" (list . $t) | trim }}{{ . | nindent 4 }}{{ end }}
    containers:
      - name: train
        image: {{ include "llama-factory.image" .Values.images.training }}
        imagePullPolicy: {{ .Values.images.training.pullPolicy }}
        command: ["llamafactory-cli", "train", "/etc/llama-factory/train.yaml"]
        env:
          {{- include "llama-factory.baseEnv" . | nindent 10 }}
          {{- include "llama-factory.pathEnv" . | trim | nindent 10 }}
          {{- if eq $t.reportTo "mlflow" }}
          {{- with include "llama-factory.mlflowEnv" . | trim }}{{ . | nindent 10 }}{{ end }}
          {{- end }}
        securityContext:
          {{- include "llama-factory.containerSecurityContext" . | nindent 10 }}
        resources:
          {{- include "llama-factory.resources" (list . $t) | nindent 10 }}
        volumeMounts:
          {{- include "llama-factory.volumeMounts" . | nindent 10 }}
    volumes:
      {{- include "llama-factory.volumes" (list . $t.shmSize) | nindent 6 }}
{{- end -}}
