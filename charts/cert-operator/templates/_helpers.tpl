{{- define "cert-operator.name" -}}{{ .Release.Name }}{{- end -}}
{{- define "cert-operator.labels" -}}
app.kubernetes.io/name: cert-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubeception
{{- end -}}
{{- define "cert-operator.rules" -}}
- apiGroups: [kubeception.io]
  resources: [caconfigs, certconfigs]
  verbs: [list, watch, patch]
- apiGroups: [kubeception.io]
  resources: [caconfigs/status, certconfigs/status]
  verbs: [patch]
# Guest credentials: the requests (patch: the finalizer that revokes at deletion) and their status; the cluster a
# request names is read by name in the request's own namespace, never listed.
- apiGroups: [kubeception.io]
  resources: [guestcredentialrequests]
  verbs: [list, watch, patch]
- apiGroups: [kubeception.io]
  resources: [guestcredentialrequests/status]
  verbs: [patch]
- apiGroups: [kubeception.io]
  resources: [kvmconfigs, awsconfigs]
  verbs: [get]
# Published CAs (<cluster>-ca ConfigMaps) and certificate Secrets, cached through label-selected informers; a
# cache miss is a LIST by name (policy.yaml: only its own are written).
- apiGroups: [""]
  resources: [configmaps, secrets]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
