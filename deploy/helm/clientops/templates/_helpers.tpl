{{- define "clientops.labels" -}}
app.kubernetes.io/name: clientops
app.kubernetes.io/part-of: clientops
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "clientops.selectorLabels" -}}
app.kubernetes.io/name: clientops
app.kubernetes.io/component: controller
{{- end }}

{{- define "clientops.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default (printf "v%s" .Chart.AppVersion) }}
{{- with .Values.image.digest }}@{{ . }}{{ end }}
{{- end }}
