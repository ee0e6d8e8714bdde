{{/* The merge Job's spec; its hash names the Job (see llama-factory.jobName). */}}
{{- define "llama-factory.merge.jobSpec" -}}
{{- $m := .Values.merge -}}
{{- $adapter := include "llama-factory.mergeAdapterPath" . -}}
backoffLimit: {{ $m.backoffLimit }}
{{- if not (kindIs "invalid" $m.activeDeadlineSeconds) }}
activeDeadlineSeconds: {{ int64 $m.activeDeadlineSeconds }}
{{- end }}
{{- if not (kindIs "invalid" $m.ttlSecondsAfterFinished) }}
ttlSecondsAfterFinished: {{ int64 $m.ttlSecondsAfterFinished }}
{{- end }}
template:
  metadata:
    labels:
      {{- include "llama-factory.podLabels" (dict "root" . "component" "merge") | nindent 6 }}
    annotations:
      checksum/config: {{ include "llama-factory.checksum" (dict "root" . "parts" (list "paths" "merge.yaml")) }}
      {{- with $m.podAnnotations }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
  spec:
    restartPolicy: Never
    {{- include "llama-factory.podCommon" (dict "root" .) | nindent 4 }}
    {{- with include "llama-factory.placement" (dict "root" . "values" $m) | trim }}{{ . | nindent 4 }}{{ end }}
    initContainers:
      # Installed together with training, the merge waits for the finished adapter
      # (LLaMA-Factory writes adapter_config.json when it saves the final model).
      - name: wait-for-adapter
        image: {{ include "llama-factory.image" (dict "root" $ "image" .Values.images.training) }}
        imagePullPolicy: {{ .Values.images.training.pullPolicy }}
        command: ["sh", "-c", "until [ -f \"$ADAPTER/adapter_config.json\" ]; do echo \"waiting for $ADAPTER\"; sleep 30; done"]
        env:
          - name: ADAPTER
            value: {{ $adapter | quote }}
        securityContext:
          {{- include "llama-factory.containerSecurityContext" . | nindent 10 }}
        resources:
          requests: {cpu: 10m, memory: 16Mi, ephemeral-storage: 16Mi}
          limits: {cpu: 100m, memory: 64Mi, ephemeral-storage: 64Mi}
        volumeMounts:
          - name: storage
            mountPath: {{ .Values.storage.mountPath }}
            readOnly: true
    containers:
      - name: merge
        image: {{ include "llama-factory.image" (dict "root" $ "image" .Values.images.training) }}
        imagePullPolicy: {{ .Values.images.training.pullPolicy }}
        command: ["llamafactory-cli", "export", "/etc/llama-factory/merge.yaml"]
        env:
          {{- include "llama-factory.baseEnv" . | nindent 10 }}
          {{- include "llama-factory.pathEnv" . | trim | nindent 10 }}
        securityContext:
          {{- include "llama-factory.containerSecurityContext" . | nindent 10 }}
        resources:
          {{- include "llama-factory.resources" (dict "root" . "values" $m) | nindent 10 }}
        volumeMounts:
          {{- include "llama-factory.volumeMounts" . | nindent 10 }}
    volumes:
      {{- include "llama-factory.volumes" (dict "root" . "shmSize" "1Gi" "values" .Values.merge) | nindent 6 }}
{{- end -}}
