{{/* The router's name, and whether one fronts the replicas. */}}
{{- define "llama-factory.router.name" -}}
{{- include "llama-factory.componentName" (dict "root" . "suffix" "router") -}}
{{- end -}}

{{- define "llama-factory.router.enabled" -}}
{{- if and .Values.inference.enabled .Values.inference.router.enabled -}}true{{- end -}}
{{- end -}}

{{/* The pods `llm-inference` sends clients to: the router when there is one. */}}
{{- define "llama-factory.inference.serviceComponent" -}}
{{- if include "llama-factory.router.enabled" . -}}router{{- else -}}inference{{- end -}}
{{- end -}}
