{{/* The router's name, and whether one fronts the replicas. */}}
{{- define "llama-factory.router.name" -}}
{{- include "llama-factory.componentName" (list . "router") -}}
{{- end -}}

{{- define "llama-factory.router.enabled" -}}
{{- and .Values.inference.enabled .Values.inference.router.enabled -}}
{{- end -}}

{{/* The pods `llm-inference` sends clients to: the router when there is one. */}}
{{- define "llama-factory.inference.serviceComponent" -}}
{{- ternary "router" "inference" (eq (include "llama-factory.router.enabled" .) "true") -}}
{{- end -}}
