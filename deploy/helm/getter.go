package helm

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// getter hands Helm's kube client the REST config slipway's deploy client
// was built with (kubeconfig from a secret, tunnel, timeouts), instead of
// Helm's usual kubeconfig-file and flag lookup.
type getter struct {
	cfg       *rest.Config
	namespace string
	disc      discovery.CachedDiscoveryInterface
}

var _ genericclioptions.RESTClientGetter = (*getter)(nil)

func newGetter(cfg *rest.Config, namespace string) (*getter, error) {
	d, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &getter{cfg: cfg, namespace: namespace, disc: memory.NewMemCacheClient(d)}, nil
}

func (g *getter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.cfg), nil }

func (g *getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) { return g.disc, nil }

func (g *getter) ToRESTMapper() (meta.RESTMapper, error) {
	m := restmapper.NewDeferredDiscoveryRESTMapper(g.disc)
	return restmapper.NewShortcutExpander(m, g.disc, nil), nil
}

// ToRawKubeConfigLoader describes the same server and credentials as a
// kubeconfig, with the environment's namespace as the context's: Helm's
// kube client reads the namespace from it.
func (g *getter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	c := g.cfg
	api := clientcmdapi.NewConfig()
	api.Clusters["slipway"] = &clientcmdapi.Cluster{
		Server:                   c.Host,
		CertificateAuthority:     c.CAFile,
		CertificateAuthorityData: c.CAData,
		InsecureSkipTLSVerify:    c.Insecure,
		TLSServerName:            c.ServerName,
	}
	api.AuthInfos["slipway"] = &clientcmdapi.AuthInfo{
		ClientCertificate:     c.CertFile,
		ClientCertificateData: c.CertData,
		ClientKey:             c.KeyFile,
		ClientKeyData:         c.KeyData,
		Token:                 c.BearerToken,
		TokenFile:             c.BearerTokenFile,
		Username:              c.Username,
		Password:              c.Password,
	}
	api.Contexts["slipway"] = &clientcmdapi.Context{Cluster: "slipway", AuthInfo: "slipway", Namespace: g.namespace}
	api.CurrentContext = "slipway"
	return clientcmd.NewDefaultClientConfig(*api, &clientcmd.ConfigOverrides{})
}
