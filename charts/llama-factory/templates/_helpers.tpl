{{/*
Conventions of the chart's helpers:
- A helper that needs more than the root context takes a dict with named keys, e.g.
  (dict "root" $ "component" "training"), and checks its required keys with
  llama-factory.requireKeys: a missing key fails by name instead of rendering empty.
- A boolean helper prints "true" or nothing, tested as (include "x" .) in an if, and, or, not:
  a template tests the string it gets back, and "false" would test true.
*/}}

{{/*
Fails unless a helper's dict argument holds every required key.
Usage: include "llama-factory.requireKeys" (dict "helper" "llama-factory.x" "args" . "keys" (list "root"))
*/}}
{{- define "llama-factory.requireKeys" -}}
{{- if not (kindIs "map" .args) -}}
{{- fail (printf "%s: takes a dict of named arguments (dict \"root\" $ ...), got a %s" .helper (kindOf .args)) -}}
{{- end -}}
{{- range .keys -}}
{{- if not (hasKey $.args .) -}}
{{- fail (printf "%s: missing required key %q" $.helper .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* ---------- Names ---------- */}}

{{- define "llama-factory.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-<chart>, or the release name alone when it already holds the chart name. */}}
{{- define "llama-factory.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "llama-factory.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
A name for one component: the full name cut short enough that "-<suffix>" fits in
63 characters, so every Service, label and DNS name stays valid for any release name.
Usage: include "llama-factory.componentName" (dict "root" $ "suffix" "webui")
*/}}
{{- define "llama-factory.componentName" -}}
{{- include "llama-factory.requireKeys" (dict "helper" "llama-factory.componentName" "args" . "keys" (list "root" "suffix")) -}}
{{- $prefix := include "llama-factory.fullname" .root | trunc (int (sub 62 (len .suffix))) | trimSuffix "-" -}}
{{- printf "%s-%s" $prefix .suffix -}}
{{- end -}}

{{/*
A Job's name carries a hash of its spec. A Job's pod template is immutable, so a changed
run must be a new Job; an unchanged run keeps its name and is left alone by upgrades.
At most 52 characters so Indexed Job pod hostnames (<job>-<index>) stay under 63.
Usage: include "llama-factory.jobName" (dict "root" $ "suffix" "train" "spec" $specYaml)
*/}}
{{- define "llama-factory.jobName" -}}
{{- include "llama-factory.requireKeys" (dict "helper" "llama-factory.jobName" "args" . "keys" (list "root" "suffix" "spec")) -}}
{{- $hash := .spec | sha256sum | trunc 8 -}}
{{- $prefix := include "llama-factory.fullname" .root | trunc (int (sub 50 (add (len .suffix) 8))) | trimSuffix "-" -}}
{{- printf "%s-%s-%s" $prefix .suffix $hash -}}
{{- end -}}

{{/*
Where every namespaced object goes: the release namespace (helm's -n), always, so helm
records the release where its objects are. namespace.name only states the intended one
(checked in _preflight.tpl).
*/}}
{{- define "llama-factory.namespace" -}}
{{- .Release.Namespace -}}
{{- end -}}

{{- define "llama-factory.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "llama-factory.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "llama-factory.configMapName" -}}
{{- include "llama-factory.componentName" (dict "root" . "suffix" "config") -}}
{{- end -}}

{{- define "llama-factory.mlflowSecretName" -}}
{{- default (include "llama-factory.componentName" (dict "root" . "suffix" "mlflow")) .Values.mlflow.existingSecret -}}
{{- end -}}

{{- define "llama-factory.mlflowEnabled" -}}
{{- if or .Values.mlflow.trackingUri .Values.mlflow.existingSecret -}}true{{- end -}}
{{- end -}}

{{- define "llama-factory.claimName" -}}
{{- if eq .Values.storage.type "existingClaim" -}}
{{- .Values.storage.existingClaim -}}
{{- else -}}
{{- include "llama-factory.componentName" (dict "root" . "suffix" "storage") -}}
{{- end -}}
{{- end -}}

{{/* Output directory of the configured training run. */}}
{{- define "llama-factory.runOutputPath" -}}
{{- printf "%s/%s" .Values.storage.paths.loraOutput .Values.training.runName -}}
{{- end -}}

{{/* ---------- Labels ---------- */}}

{{- define "llama-factory.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llama-factory.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of objects. Pod templates use podLabels instead, so a chart version bump alone never restarts pods or re-runs Jobs. */}}
{{- define "llama-factory.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "llama-factory.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: llama-factory
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Usage: include "llama-factory.componentLabels" (dict "root" $ "component" "inference"); the same dict for the two below. */}}
{{- define "llama-factory.componentLabels" -}}
{{- include "llama-factory.requireKeys" (dict "helper" "llama-factory.componentLabels" "args" . "keys" (list "root" "component")) -}}
{{ include "llama-factory.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "llama-factory.componentSelectorLabels" -}}
{{- include "llama-factory.requireKeys" (dict "helper" "llama-factory.componentSelectorLabels" "args" . "keys" (list "root" "component")) -}}
{{ include "llama-factory.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "llama-factory.podLabels" -}}
{{- include "llama-factory.requireKeys" (dict "helper" "llama-factory.podLabels" "args" . "keys" (list "root" "component")) -}}
{{ include "llama-factory.componentSelectorLabels" . }}
app.kubernetes.io/part-of: llama-factory
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* ---------- Images ---------- */}}

{{/* Usage: include "llama-factory.image" (dict "root" $ "image" .Values.images.training)
     An image's own `registry`, else global.imageRegistry, replaces the registry host of its
     repository (the first path part when it names a host: a `.` or `:` in it, or localhost), so
     an air-gapped cluster that mirrors every image keeps each image's path under one registry. */}}
{{- define "llama-factory.image" -}}
{{- $image := .image -}}
{{- $repository := $image.repository -}}
{{- $registry := $image.registry | default .root.Values.global.imageRegistry -}}
{{- if $registry -}}
{{- $parts := splitList "/" $repository -}}
{{- $first := first $parts -}}
{{- if and (gt (len $parts) 1) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) -}}
{{- $repository = join "/" (rest $parts) -}}
{{- end -}}
{{- $repository = printf "%s/%s" (trimSuffix "/" $registry) $repository -}}
{{- end -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository $image.tag -}}
{{- end -}}
{{- end -}}

{{/* ---------- Pod building blocks ---------- */}}

{{- define "llama-factory.podSecurityContext" -}}
runAsNonRoot: {{ .Values.podSecurityContext.runAsNonRoot }}
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
fsGroup: {{ .Values.podSecurityContext.fsGroup }}
# Only chown the volume root when it differs: a recursive chown of a 200Gi model store takes hours.
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: {{ .Values.podSecurityContext.seccompProfileType }}
{{- end -}}

{{- define "llama-factory.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Pod spec fields every workload shares. Usage: include "llama-factory.podCommon" (dict "root" $)
A pod that calls the Kubernetes API (the router) names the account it calls as, which gets a
token: (dict "root" $ "apiServiceAccount" $name). Every other pod runs tokenless as the release's.
*/}}
{{- define "llama-factory.podCommon" -}}
{{- include "llama-factory.requireKeys" (dict "helper" "llama-factory.podCommon" "args" . "keys" (list "root")) -}}
{{- $root := .root -}}
{{- if .apiServiceAccount -}}
serviceAccountName: {{ .apiServiceAccount }}
automountServiceAccountToken: true
{{- else -}}
serviceAccountName: {{ include "llama-factory.serviceAccountName" $root }}
automountServiceAccountToken: false
{{- /* The note stays off the router's manifest, which never carried it. */}}
# A Service named like an engine prefix (vllm -> VLLM_PORT=tcp://...) breaks engines that read their own env vars.
{{- end }}
enableServiceLinks: false
securityContext:
  {{- include "llama-factory.podSecurityContext" $root | nindent 2 }}
{{- with concat $root.Values.global.imagePullSecrets $root.Values.imagePullSecrets | uniq }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
Scheduling of one component. A component with GPUs lands on GPU nodes (the chart's
gpu.nodeSelector and tolerations unless the component overrides them); a CPU-only one
is free to land anywhere. Usage: include "llama-factory.placement" (dict "root" $ "values" .Values.training)
*/}}
{{- define "llama-factory.placement" -}}
{{- include "llama-factory.requireKeys" (dict "helper" "llama-factory.placement" "args" . "keys" (list "root" "values")) -}}
{{- $root := .root -}}
{{- $component := .values -}}
{{- $gpu := gt (int $component.gpus) 0 -}}
{{- $nodeSelector := $component.nodeSelector -}}
{{- if and (not $nodeSelector) $gpu -}}{{- $nodeSelector = $root.Values.gpu.nodeSelector -}}{{- end -}}
{{- $tolerations := $component.tolerations -}}
{{- if and (not $tolerations) $gpu -}}{{- $tolerations = $root.Values.gpu.tolerations -}}{{- end -}}
{{- with $nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $component.affinity }}
affinity:
  {{- toYaml $component.affinity | nindent 2 }}
{{- else if .spread }}
affinity:
  {{- include "llama-factory.spreadAffinity" (dict "root" $root "component" .spread) | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Container resources with the GPU limit equal to the component's GPU count. Usage: (dict "root" $ "values" .Values.training) */}}
{{/*
Replicas of a component on different nodes where the pool allows it, so one node's loss takes
out one replica. Preferred, not required: a GPU pool may have fewer nodes than replicas.
*/}}
{{- define "llama-factory.spreadAffinity" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "llama-factory.componentSelectorLabels" (dict "root" .root "component" .component) | nindent 12 }}
{{- end -}}

{{- define "llama-factory.resources" -}}
{{- include "llama-factory.requireKeys" (dict "helper" "llama-factory.resources" "args" . "keys" (list "root" "values")) -}}
{{- $root := .root -}}
{{- $component := .values -}}
{{- $resources := deepCopy $component.resources -}}
{{- $requests := default dict $resources.requests -}}
{{- $limits := default dict $resources.limits -}}
{{- /* Every main container bounds what it writes outside the storage (/tmp, logs). */ -}}
{{- $_ := set $requests "ephemeral-storage" (index $requests "ephemeral-storage" | default $root.Values.ephemeralStorage.request) -}}
{{- $_ := set $limits "ephemeral-storage" (include "llama-factory.ephemeralLimit" .) -}}
{{- if gt (int $component.gpus) 0 -}}
{{- $_ := set $limits $root.Values.gpu.resourceName (int $component.gpus) -}}
{{- end -}}
{{- $_ := set $resources "requests" $requests -}}
{{- $_ := set $resources "limits" $limits -}}
{{- toYaml $resources -}}
{{- end -}}

{{/* A component's ephemeral-storage limit: its own, else ephemeralStorage.limit. Also the size of its /tmp. */}}
{{- define "llama-factory.ephemeralLimit" -}}
{{- $limits := default dict .values.resources.limits -}}
{{- index $limits "ephemeral-storage" | default .root.Values.ephemeralStorage.limit -}}
{{- end -}}

{{/* Environment every LLaMA-Factory / engine container gets: writable HOME and caches on /tmp, no hub downloads. */}}
{{- define "llama-factory.baseEnv" -}}
- name: HOME
  value: /tmp
- name: HF_HOME
  value: /tmp/hf
# Models and datasets are on the shared storage; never reach for a model hub.
- name: HF_HUB_OFFLINE
  value: "1"
{{- end -}}

{{/* Storage path variables, read from the ConfigMap. */}}
{{- define "llama-factory.pathEnv" -}}
{{- include "llama-factory.pathEnvOf" (dict "root" . "keys" (list "BASE_MODEL_PATH" "DATASET_PATH" "LORA_OUTPUT_PATH" "MERGED_MODEL_PATH")) -}}
{{- end -}}

{{/* The storage paths without the run's output: for the long-running WebUI and engine. */}}
{{- define "llama-factory.storagePathEnv" -}}
{{- include "llama-factory.pathEnvOf" (dict "root" . "keys" (list "BASE_MODEL_PATH" "DATASET_PATH" "MERGED_MODEL_PATH")) -}}
{{- end -}}

{{- define "llama-factory.pathEnvOf" -}}
{{- include "llama-factory.requireKeys" (dict "helper" "llama-factory.pathEnvOf" "args" . "keys" (list "root" "keys")) -}}
{{- $cm := include "llama-factory.configMapName" .root -}}
{{- range $key := .keys }}
- name: {{ $key }}
  valueFrom:
    configMapKeyRef:
      name: {{ $cm }}
      key: {{ $key }}
{{- end }}
{{- end -}}

{{/* MLflow connection from the Secret (never args or ConfigMaps). */}}
{{- define "llama-factory.mlflowEnv" -}}
{{- if include "llama-factory.mlflowEnabled" . }}
- name: MLFLOW_EXPERIMENT_NAME
  value: {{ .Values.mlflow.experimentName | quote }}
{{ include "llama-factory.mlflowConnectionEnv" . }}
{{- end }}
{{- end -}}

{{/* Where MLflow is and the credentials to reach it, from the MLflow Secret. */}}
{{- define "llama-factory.mlflowConnectionEnv" -}}
{{- range $key := list "MLFLOW_TRACKING_URI" "MLFLOW_TRACKING_USERNAME" "MLFLOW_TRACKING_PASSWORD" "MLFLOW_TRACKING_TOKEN" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ include "llama-factory.mlflowSecretName" $ }}
      key: {{ $key }}
      optional: {{ ne $key "MLFLOW_TRACKING_URI" }}
{{- end }}
{{- end -}}

{{- define "llama-factory.volumeMounts" -}}
- name: storage
  mountPath: {{ .Values.storage.mountPath }}
{{- include "llama-factory.mountsAfterStorage" . }}
{{- end -}}

{{/* The same mounts with the shared storage read-only: for pods that only read it (serving). */}}
{{- define "llama-factory.volumeMountsStorageReadOnly" -}}
- name: storage
  mountPath: {{ .Values.storage.mountPath }}
  readOnly: true
{{- include "llama-factory.mountsAfterStorage" . }}
{{- end -}}

{{- define "llama-factory.mountsAfterStorage" }}
- name: config
  mountPath: /etc/llama-factory
  readOnly: true
- name: tmp
  mountPath: /tmp
- name: shm
  mountPath: /dev/shm
{{- end -}}

{{/* Usage: include "llama-factory.volumes" (dict "root" $ "shmSize" $t.shmSize "values" $t) */}}
{{- define "llama-factory.volumes" -}}
{{- include "llama-factory.requireKeys" (dict "helper" "llama-factory.volumes" "args" . "keys" (list "root" "shmSize" "values")) -}}
{{- $root := .root -}}
- name: storage
  persistentVolumeClaim:
    claimName: {{ include "llama-factory.claimName" $root }}
- name: config
  configMap:
    name: {{ include "llama-factory.configMapName" $root }}
# Caches and scratch files; the kubelet evicts the pod before it outgrows its ephemeral-storage limit.
- name: tmp
  emptyDir:
    sizeLimit: {{ include "llama-factory.ephemeralLimit" (dict "root" $root "values" .values) }}
# Memory-backed /dev/shm: the container runtime's 64M default starves NCCL and data loaders.
- name: shm
  emptyDir:
    medium: Memory
    sizeLimit: {{ .shmSize }}
{{- end -}}

{{/*
Hash of the configuration a component consumes, put on its pod template so pods roll
when (and only when) that configuration changes.
Usage: include "llama-factory.checksum" (dict "root" $ "parts" (list "paths" "train.yaml"))
*/}}
{{- define "llama-factory.checksum" -}}
{{- include "llama-factory.requireKeys" (dict "helper" "llama-factory.checksum" "args" . "keys" (list "root" "parts")) -}}
{{- $root := .root -}}
{{- $parts := list -}}
{{- range $name := .parts -}}
{{- $parts = append $parts (include (printf "llama-factory.config.%s" $name) $root) -}}
{{- end -}}
{{- join "\n---\n" $parts | sha256sum -}}
{{- end -}}

{{/* PersistentVolumes are cluster-wide: the namespace's hash keeps two releases of the same name apart. */}}
{{- define "llama-factory.nfsVolumeName" -}}
{{- include "llama-factory.componentName" (dict "root" . "suffix" (printf "storage-%s" (include "llama-factory.namespace" . | sha256sum | trunc 8))) -}}
{{- end -}}

{{/*
checkov and kube-score findings the chart accepts, each with its reason, as checkov.io/skipN
annotations (checkov reads them from the workload's metadata) and kube-score/ignore (check ids,
their reasons in llama-factory.io/kube-score-ignore-reasons). Only the findings that apply to the
rendered values are skipped: with digests set, the image checks run and pass.
Usage: include "llama-factory.checkovSkips" (dict "images" (list .Values.images.training) "secretEnv" true "batch" true)
(secretEnv and batch may be left out: false)
*/}}
{{- define "llama-factory.checkovSkips" -}}
{{- include "llama-factory.requireKeys" (dict "helper" "llama-factory.checkovSkips" "args" . "keys" (list "images")) -}}
{{- $skips := list -}}
{{- if .batch -}}
{{- /* Run-to-completion pods serve nothing, so liveness/readiness probes do not apply. */ -}}
{{- $skips = append $skips "CKV_K8S_8=runs to completion and serves nothing to probe" -}}
{{- $skips = append $skips "CKV_K8S_9=runs to completion and serves nothing to probe" -}}
{{- end -}}
{{- $undigested := false -}}
{{- range .images }}{{ if not .digest }}{{ $undigested = true }}{{ end }}{{ end -}}
{{- if $undigested -}}
{{- /* Without a digest the image is pinned by its release tag (the schema refuses `latest`). */ -}}
{{- $skips = append $skips "CKV_K8S_43=pinned by release tag; set images.*.digest to pin by digest" -}}
{{- $skips = append $skips "CKV_K8S_15=pinned by release tag; pullPolicy is images.*.pullPolicy, a digest makes this check pass" -}}
{{- end -}}
{{- if .secretEnv -}}
{{- /* MLflow (and the HF Trainer's callback) reads its URI and credentials, and the engines
their API key (VLLM_API_KEY, API_KEY), only from the environment. */ -}}
{{- $skips = append $skips "CKV_K8S_35=the software reads these credentials only from environment variables" -}}
{{- end -}}
{{- range $i, $skip := $skips }}
checkov.io/skip{{ add1 $i }}: {{ $skip | quote }}
{{- end -}}
{{- $pulls := list -}}
{{- range .images }}{{ $pulls = append $pulls .pullPolicy }}{{ end -}}
{{- if has "IfNotPresent" $pulls | or (has "Never" $pulls) }}
{{- /* kube-score reads check ids only; the reason goes beside them. */}}
kube-score/ignore: container-image-pull-policy
llama-factory.io/kube-score-ignore-reasons: "container-image-pull-policy=images are pinned by release tag or digest, so a node's copy is the image asked for; pullPolicy is images.*.pullPolicy (Always makes every start, and every GPU pod's retry, wait on the registry)"
{{- end -}}
{{- end -}}
