package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// KubeconfigSource yields a kubeconfig when a deploy needs it, so that a
// secret is read as late as possible and never stored in a plain field.
type KubeconfigSource interface {
	Kubeconfig(ctx context.Context) ([]byte, error)
}

// KubeconfigBytes is a kubeconfig held in memory (a Dagger secret's
// plaintext).
type KubeconfigBytes []byte

// Kubeconfig returns the bytes, or an error when there are none.
func (b KubeconfigBytes) Kubeconfig(context.Context) ([]byte, error) {
	if len(b) == 0 {
		return nil, errors.New("the kubeconfig is empty: pass the cluster's kubeconfig as a secret")
	}
	return b, nil
}

// KubeconfigFile reads a kubeconfig file.
type KubeconfigFile string

// Kubeconfig reads the file.
func (f KubeconfigFile) Kubeconfig(context.Context) ([]byte, error) {
	b, err := os.ReadFile(string(f))
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig: %w", err)
	}
	return b, nil
}

// KubeconfigEnv reads a kubeconfig from an environment variable holding its
// contents (how GitLab and GitHub hand a secret to a job).
type KubeconfigEnv string

// Kubeconfig reads the variable.
func (v KubeconfigEnv) Kubeconfig(context.Context) ([]byte, error) {
	s, ok := os.LookupEnv(string(v))
	if !ok || s == "" {
		return nil, fmt.Errorf("the kubeconfig variable %s is not set: define it as a masked CI/CD variable (GitLab) or a secret (GitHub) and pass it to the job", string(v))
	}
	return []byte(s), nil
}

var (
	_ KubeconfigSource = KubeconfigBytes(nil)
	_ KubeconfigSource = KubeconfigFile("")
	_ KubeconfigSource = KubeconfigEnv("")
)
