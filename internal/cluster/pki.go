package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// serverNames are the names every API server certificate carries: the
// loopback names, the in-cluster service names, the first service IP, and
// EngineBridgeIP.
var serverNames = []string{"127.0.0.1", "localhost", "10.0.0.1", EngineBridgeIP, "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}

// EngineBridgeIP is where containers of slipway's local Dagger engine reach
// the API server: internal/engine forwards the host's port into the
// engine's network namespace (internal/hostport), so the CI files' deploy
// jobs run there with a kubeconfig naming https://10.87.0.1:16443, as a
// CI runner reaches a real cluster. It equals internal/engine.BridgeIP
// (not imported: the cluster does not depend on the engine).
const EngineBridgeIP = "10.87.0.1"

// ServerNames are the TLS names of the API server certificate: the fixed
// ones, the bind address and every WithSANs name, sorted.
func (c *Cluster) ServerNames() []string {
	names := append(append([]string{}, serverNames...), c.sans...)
	if c.bind != "" && c.bind != "0.0.0.0" {
		names = append(names, c.bind)
	}
	sort.Strings(names)
	return slices.Compact(names)
}

// identity is one client certificate the control plane uses.
type identity struct {
	name, cn string
	org      []string
}

var identities = []identity{
	{name: "admin", cn: "slipway-admin", org: []string{"system:masters"}},
	{name: "kcm", cn: "system:kube-controller-manager"},
	{name: "scheduler", cn: "system:kube-scheduler"},
	// The API server's client certificate for the kubelet (logs, exec,
	// port-forward, proxy), as kubeadm's kube-apiserver-kubelet-client.
	{name: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", org: []string{"system:masters"}},
	// The real node's kubelet: the Node authorizer knows it by this name.
	{name: "node", cn: "system:node:" + NodeName, org: []string{"system:nodes"}},
}

// ensurePKI creates the CA, the service-account key and the client
// certificates once, and the server certificate whenever its names change
// (a new SAN for a tunnel must not need a new CA, or every kubeconfig
// handed out before would stop working).
func (c *Cluster) ensurePKI() error {
	dir := c.pkiDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cluster: pki: %w", err)
	}
	caCert, caKey, err := loadPair(dir, "ca")
	if err != nil {
		caKey, err = newKey()
		if err != nil {
			return err
		}
		tmpl := certTemplate("slipway-local-ca", nil)
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign
		if caCert, err = signAndWrite(dir, "ca", tmpl, tmpl, caKey, caKey); err != nil {
			return err
		}
		// A new CA invalidates everything signed by the old one.
		for _, n := range []string{"apiserver", "kubelet"} {
			os.Remove(filepath.Join(dir, n+".crt"))
		}
		for _, id := range identities {
			os.Remove(filepath.Join(dir, id.name+".crt"))
		}
	}
	// Names only ever get added: a `make cluster` without -san must not
	// drop the name a tunnel was given earlier.
	if err := ensureServerCert(dir, "apiserver", "kube-apiserver", c.ServerNames(), true, caCert, caKey); err != nil {
		return err
	}
	// The kubelet's serving certificate: the API server dials the node's
	// InternalIP and verifies it against the CA.
	if err := ensureServerCert(dir, "kubelet", NodeName, []string{NodeName, c.network.NodeIP().String()}, false, caCert, caKey); err != nil {
		return err
	}
	for _, id := range identities {
		if _, _, err := loadPair(dir, id.name); err == nil {
			continue
		}
		key, err := newKey()
		if err != nil {
			return err
		}
		tmpl := certTemplate(id.cn, id.org)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		if _, err := signAndWrite(dir, id.name, tmpl, caCert, key, caKey); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "sa.key")); err != nil {
		key, err := newKey()
		if err != nil {
			return err
		}
		if err := writeKey(filepath.Join(dir, "sa.key"), key); err != nil {
			return err
		}
		pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			return fmt.Errorf("cluster: pki: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
			return fmt.Errorf("cluster: pki: %w", err)
		}
	}
	return nil
}

// ensureServerCert (re-)issues the serving certificate name when its TLS
// names differ from names (or, with keep, lack one of them: names are then
// only ever added).
func ensureServerCert(dir, name, cn string, names []string, keep bool, caCert *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	names = slices.Clone(names)
	sort.Strings(names)
	names = slices.Compact(names)
	cert, _, err := loadPair(dir, name)
	if err == nil && keep {
		have := certNames(cert)
		missing := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return slices.Contains(have, n) })
		names = append(have, missing...)
		sort.Strings(names)
		names = slices.Compact(names)
	}
	if err == nil && slices.Equal(certNames(cert), names) {
		return nil
	}
	key, err := newKey()
	if err != nil {
		return err
	}
	tmpl := certTemplate(cn, nil)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	_, err = signAndWrite(dir, name, tmpl, caCert, key, caKey)
	return err
}

func certNames(cert *x509.Certificate) []string {
	names := append([]string{}, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	sort.Strings(names)
	return names
}

func certTemplate(cn string, org []string) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: org},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
}

func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("cluster: pki: %w", err)
	}
	return k, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("cluster: pki: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("cluster: pki: %w", err)
	}
	return nil
}

func signAndWrite(dir, name string, tmpl, parent *x509.Certificate, key, parentKey *ecdsa.PrivateKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, fmt.Errorf("cluster: pki: signing %s: %w", name, err)
	}
	if err := writeKey(filepath.Join(dir, name+".key"), key); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, fmt.Errorf("cluster: pki: %w", err)
	}
	return x509.ParseCertificate(der)
}

func loadPair(dir, name string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, err := os.ReadFile(filepath.Join(dir, name+".crt"))
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(filepath.Join(dir, name+".key"))
	if err != nil {
		return nil, nil, err
	}
	cp, _ := pem.Decode(cb)
	kp, _ := pem.Decode(kb)
	if cp == nil || kp == nil {
		return nil, nil, errors.New("not PEM")
	}
	cert, err := x509.ParseCertificate(cp.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kp.Bytes)
	if err != nil {
		return nil, nil, err
	}
	if time.Now().After(cert.NotAfter) {
		return nil, nil, errors.New("expired")
	}
	return cert, key, nil
}

// Kubeconfig returns a kubeconfig for one of the instance's identities
// ("admin", "kcm", "scheduler") with everything embedded, naming server.
func (c *Cluster) Kubeconfig(identity, server string) ([]byte, error) {
	dir := c.pkiDir()
	read := func(n string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, n)) }
	ca, err := read("ca.crt")
	if err != nil {
		return nil, fmt.Errorf("cluster: kubeconfig: %w", err)
	}
	crt, err := read(identity + ".crt")
	if err != nil {
		return nil, fmt.Errorf("cluster: kubeconfig: %w", err)
	}
	key, err := read(identity + ".key")
	if err != nil {
		return nil, fmt.Errorf("cluster: kubeconfig: %w", err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["slipway"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[identity] = &clientcmdapi.AuthInfo{ClientCertificateData: crt, ClientKeyData: key}
	cfg.Contexts["slipway"] = &clientcmdapi.Context{Cluster: "slipway", AuthInfo: identity, Namespace: "default"}
	cfg.CurrentContext = "slipway"
	return clientcmd.Write(*cfg)
}

func (c *Cluster) writeKubeconfigs() error {
	for _, id := range identities {
		server := c.Server()
		if id.name == "node" {
			// node.sh's proxy serves the API server on the node's loopback.
			server = fmt.Sprintf("https://127.0.0.1:%d", c.ports.APIServer)
		}
		b, err := c.Kubeconfig(id.name, server)
		if err != nil {
			return err
		}
		path := filepath.Join(c.pkiDir(), id.name+".kubeconfig")
		if id.name == "admin" {
			path = c.KubeconfigPath()
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return fmt.Errorf("cluster: kubeconfig: %w", err)
		}
		if id.name == "admin" && c.RepoKubeconfigPath() != "" {
			rp := c.RepoKubeconfigPath()
			if err := os.MkdirAll(filepath.Dir(rp), 0o755); err != nil {
				return fmt.Errorf("cluster: kubeconfig: %w", err)
			}
			if err := os.WriteFile(rp, b, 0o600); err != nil {
				return fmt.Errorf("cluster: kubeconfig: %w", err)
			}
		}
	}
	// The same admin, as the engine's containers reach the server.
	b, err := c.Kubeconfig("admin", c.EngineServer())
	if err != nil {
		return err
	}
	for _, p := range []string{c.EngineKubeconfigPath(), c.RepoEngineKubeconfigPath()} {
		if p == "" {
			continue
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return fmt.Errorf("cluster: kubeconfig: %w", err)
		}
	}
	return nil
}

// CertNames are the TLS names of the API server certificate on disk (the
// one the running server presents), which may differ from ServerNames when
// the SANs changed since the last Up.
func (c *Cluster) CertNames() ([]string, error) {
	cert, _, err := loadPair(c.pkiDir(), "apiserver")
	if err != nil {
		return nil, fmt.Errorf("cluster: no API server certificate in %s (run `make cluster`): %w", c.pkiDir(), err)
	}
	return certNames(cert), nil
}
