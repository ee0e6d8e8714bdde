{{/* A helm test Pod running one shell script. Usage: include "llama-factory.testPod" (list $ "name" $script $extraEnvYaml $envHasSecrets) */}}
{{- define "llama-factory.testPod" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
apiVersion: v1
kind: Pod
metadata:
  name: {{ include "llama-factory.componentName" (list $root (printf "test-%s" $name)) }}
  namespace: {{ include "llama-factory.namespace" $root }}
  labels:
    {{- include "llama-factory.componentLabels" (list $root "test") | nindent 4 }}
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation
    {{- include "llama-factory.checkovSkips" (dict "images" (list $root.Values.tests.image) "secretEnv" (index . 4) "batch" true) | trim | nindent 4 }}
spec:
  restartPolicy: Never
  {{- include "llama-factory.podCommon" $root | nindent 2 }}
  containers:
    - name: test
      image: {{ include "llama-factory.image" $root.Values.tests.image }}
      imagePullPolicy: {{ $root.Values.tests.image.pullPolicy }}
      command: ["sh", "-c", {{ index . 2 | quote }}]
      {{- with index . 3 | trim }}
      env:
        {{- . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "llama-factory.containerSecurityContext" $root | nindent 8 }}
      resources:
        requests: {cpu: 10m, memory: 16Mi}
        limits: {cpu: 100m, memory: 64Mi}
{{- end -}}
