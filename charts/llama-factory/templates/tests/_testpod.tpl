{{/*
A helm test Pod running one shell script.
Usage: include "llama-factory.testPod" (dict "root" $ "name" "chat" "script" $script "env" $envYaml "secretEnv" true)
env (YAML env entries) may be left out; secretEnv says whether they read a Secret (default false).
*/}}
{{- define "llama-factory.testPod" -}}
{{- include "llama-factory.requireKeys" (dict "helper" "llama-factory.testPod" "args" . "keys" (list "root" "name" "script")) -}}
{{- $root := .root -}}
apiVersion: v1
kind: Pod
metadata:
  name: {{ include "llama-factory.componentName" (dict "root" $root "suffix" (printf "test-%s" .name)) }}
  namespace: {{ include "llama-factory.namespace" $root }}
  labels:
    {{- include "llama-factory.componentLabels" (dict "root" $root "component" "test") | nindent 4 }}
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation
    {{- include "llama-factory.checkovSkips" (dict "images" (list $root.Values.tests.image) "secretEnv" .secretEnv "batch" true) | trim | nindent 4 }}
spec:
  restartPolicy: Never
  {{- include "llama-factory.podCommon" (dict "root" $root) | nindent 2 }}
  {{- with $root.Values.tests.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $root.Values.tests.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: test
      image: {{ include "llama-factory.image" (dict "root" $root "image" $root.Values.tests.image) }}
      imagePullPolicy: {{ $root.Values.tests.image.pullPolicy }}
      command: ["sh", "-c", {{ .script | quote }}]
      {{- with .env | default "" | trim }}
      env:
        {{- . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "llama-factory.containerSecurityContext" $root | nindent 8 }}
      resources:
        requests: {cpu: 10m, memory: 16Mi, ephemeral-storage: 16Mi}
        limits: {cpu: 100m, memory: 64Mi, ephemeral-storage: 64Mi}
{{- end -}}
