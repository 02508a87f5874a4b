{{- define "ingress-operator.name" -}}{{ .Release.Name }}{{- end -}}
{{- define "ingress-operator.labels" -}}
app.kubernetes.io/name: ingress-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubeception
{{- end -}}
{{- define "ingress-operator.image" -}}"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"{{- end -}}

{{- /* What HAProxy's container and the agent's share: the state volume (files and sockets) and the listeners. */ -}}
{{- define "ingress-operator.haproxyArgs" -}}
- --state-dir=/var/lib/haproxy-agent
- --haproxy=/usr/sbin/haproxy
- --tls-port={{ .Values.routing.tlsPort }}
- --http-port={{ .Values.routing.httpPort }}
{{- end -}}
{{- define "ingress-operator.platform-args" -}}
- --platform.domains={{ .Values.platform.domains | toJson }}
- --platform.mother.pods={{ .Values.platform.mother.pods | toJson }}
- --platform.mother.services={{ .Values.platform.mother.services | toJson }}
- --platform.mother.nodes={{ .Values.platform.mother.nodes | toJson }}
- --platform.pools.flannel={{ .Values.platform.pools.flannel }}
- --platform.pools.vpc={{ .Values.platform.pools.vpc }}
- --platform.guest-endpoints={{ .Values.platform.guestEndpoints | toJson }}
{{- end -}}
