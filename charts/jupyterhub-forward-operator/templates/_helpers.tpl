{{/*
Labels of every object of one component (operator or facade); the same as in manifests/.
*/}}
{{- define "jfo.labels" -}}
app.kubernetes.io/name: jupyterhub-forward-operator
app.kubernetes.io/component: {{ . }}
{{- end }}

{{/*
The image of the operator and the facade: image.repository:image.tag (tag default: appVersion).
*/}}
{{- define "jfo.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
Optional environment variables: one EnvVar per entry of the dict whose value is not null or
empty, in the dict's key order (sorted). Numbers are written as integers (Helm reads every
number in values as a float). Argument: a dict of variable name -> value.
*/}}
{{- define "jfo.optionalEnv" -}}
{{- range $name, $value := . }}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") }}
{{- $text := ternary (int64 $value | toString) (toString $value) (kindIs "float64" $value) }}
- name: {{ $name }}
  value: {{ $text | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The namespaces the operator watches (operator.watchNamespaces), comma-separated as JFO_NAMESPACE
takes them; empty: every namespace.
*/}}
{{- define "jfo.watchNamespace" -}}
{{- .Values.operator.watchNamespaces | default list | join "," }}
{{- end }}
