package manifest

// The objects a manifest holds, as the subset of k8s.io/api's apps/v1
// Deployment and core/v1 Service that Template sets: the same JSON names
// and omitempty rules, nothing else. Declaring them here rather than
// importing k8s.io/api keeps k8s.io/api and apimachinery (about a third of
// the binary) out of the service's image; the package's tests decode every
// generated manifest into the k8s.io/api types strictly and compare the
// bytes with those k8s.io/api renders, so a wrong name or a missing field
// fails them.

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// objectMeta is metav1.ObjectMeta's name, namespace and labels.
type objectMeta struct {
	Name      string            `json:"name,omitempty"`
	Namespace string            `json:"namespace,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

type deployment struct {
	typeMeta
	ObjectMeta objectMeta     `json:"metadata"`
	Spec       deploymentSpec `json:"spec"`
}

type deploymentSpec struct {
	Replicas *int32          `json:"replicas,omitempty"`
	Selector labelSelector   `json:"selector"`
	Template podTemplateSpec `json:"template"`
}

type labelSelector struct {
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

type podTemplateSpec struct {
	ObjectMeta objectMeta `json:"metadata"`
	Spec       podSpec    `json:"spec"`
}

type podSpec struct {
	Containers      []container         `json:"containers"`
	SecurityContext *podSecurityContext `json:"securityContext,omitempty"`
}

type podSecurityContext struct {
	RunAsNonRoot   *bool           `json:"runAsNonRoot,omitempty"`
	SeccompProfile *seccompProfile `json:"seccompProfile,omitempty"`
}

type seccompProfile struct {
	Type string `json:"type"`
}

type container struct {
	Name            string           `json:"name"`
	Image           string           `json:"image,omitempty"`
	Ports           []containerPort  `json:"ports,omitempty"`
	Env             []envVar         `json:"env,omitempty"`
	Resources       resources        `json:"resources"`
	SecurityContext *securityContext `json:"securityContext,omitempty"`
}

type containerPort struct {
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol,omitempty"`
}

type envVar struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// resources is corev1.ResourceRequirements; the maps are keyed by resource
// name ("cpu", "memory") and print their quantities canonically.
type resources struct {
	Limits   map[string]quantity `json:"limits,omitempty"`
	Requests map[string]quantity `json:"requests,omitempty"`
}

type securityContext struct {
	Capabilities             *capabilities `json:"capabilities,omitempty"`
	RunAsNonRoot             *bool         `json:"runAsNonRoot,omitempty"`
	ReadOnlyRootFilesystem   *bool         `json:"readOnlyRootFilesystem,omitempty"`
	AllowPrivilegeEscalation *bool         `json:"allowPrivilegeEscalation,omitempty"`
}

type capabilities struct {
	Drop []string `json:"drop,omitempty"`
}

type service struct {
	typeMeta
	ObjectMeta objectMeta  `json:"metadata"`
	Spec       serviceSpec `json:"spec"`
}

type serviceSpec struct {
	Ports    []servicePort     `json:"ports,omitempty"`
	Selector map[string]string `json:"selector,omitempty"`
}

// servicePort is corev1.ServicePort with a named target port, the only
// kind Template writes (intstr.FromString).
type servicePort struct {
	Name       string `json:"name,omitempty"`
	Protocol   string `json:"protocol,omitempty"`
	Port       int32  `json:"port"`
	TargetPort string `json:"targetPort,omitempty"`
}
