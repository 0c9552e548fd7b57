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
`namespace: <facade namespace>` when facade.namespace is set; nothing otherwise, so the objects
go to the release namespace (as manifests/facade goes to the kubectl context's namespace).
*/}}
{{- define "jfo.facadeNamespace" -}}
{{- with .Values.facade.namespace }}
namespace: {{ . }}
{{- end }}
{{- end }}

{{/*
Optional environment variables: one EnvVar per entry of the dict whose value is not null or
empty, in the dict's key order (sorted). Argument: a dict of variable name -> value.
*/}}
{{- define "jfo.optionalEnv" -}}
{{- range $name, $value := . }}
{{- if not (kindIs "invalid" $value) }}
{{- if ne (toString $value) "" }}
- name: {{ $name }}
  value: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The namespaces the operator watches (operator.watchNamespaces); more than one is refused until
the operator supports a list.
*/}}
{{- define "jfo.watchNamespace" -}}
{{- $ns := .Values.operator.watchNamespaces | default list }}
{{- if gt (len $ns) 1 }}
{{- fail (printf "operator.watchNamespaces: the operator watches one namespace or all (empty list), got %d: %v" (len $ns) $ns) }}
{{- end }}
{{- first $ns | default "" }}
{{- end }}
