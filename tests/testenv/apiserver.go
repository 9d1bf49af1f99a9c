package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/component-base/cli"
	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
)

// apiserverFlags are the kube-apiserver flags proven in testenv-recipe.md
// (envtest-like defaults, RBAC, and an admin identity via client certs).
func apiserverFlags(etcdURL string, port int, certDir string, p *pki) []string {
	return []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir=" + certDir,
		"--tls-cert-file=" + p.ServingCert,
		"--tls-private-key-file=" + p.ServingKey,
		"--client-ca-file=" + p.CACert,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + p.ServiceAcctKey,
		"--service-account-signing-key-file=" + p.ServiceAcctKey,
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		// No serviceaccount controller runs, so pods must not need a default SA.
		"--disable-admission-plugins=ServiceAccount",
	}
}

// startAPIServer runs kube-apiserver in this process. The returned channel
// receives the command's exit code when it returns.
//
// NewAPIServerCommand installs the process-wide SIGTERM/SIGINT handler
// (genericapiserver.SetupSignalContext): the first signal starts the
// apiserver's graceful shutdown, a second one exits the process. It can be
// called only once per process.
func startAPIServer(flags []string) <-chan int {
	cmd := apiserverapp.NewAPIServerCommand()
	cmd.SetArgs(flags)
	done := make(chan int, 1)
	go func() { done <- cli.Run(cmd) }()
	return done
}

// waitReady polls https://127.0.0.1:port/readyz with the admin identity until
// it answers 200, the apiserver exits, or ctx ends.
func waitReady(ctx context.Context, url string, p *pki, apiDone <-chan int) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.CAPEM)
	cert, err := tls.X509KeyPair(p.AdminCertPEM, p.AdminKeyPEM)
	if err != nil {
		return err
	}
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs:      pool,
			Certificates: []tls.Certificate{cert},
		}},
	}
	defer client.CloseIdleConnections()

	var last string
	for {
		resp, err := client.Get(url + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		select {
		case code := <-apiDone:
			return fmt.Errorf("%w with code %d before it was ready", errAPIExited, code)
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready: %w (last /readyz: %s)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// writeKubeconfig writes a self-contained kubeconfig (CA, client cert and key
// embedded) for the admin user, atomically.
func writeKubeconfig(path, serverURL string, p *pki) error {
	const name = "clientops-testenv"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   serverURL,
		CertificateAuthorityData: p.CAPEM,
	}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificateData: p.AdminCertPEM,
		ClientKeyData:         p.AdminKeyPEM,
	}
	cfg.Contexts[name] = &clientcmdapi.Context{
		Cluster:   name,
		AuthInfo:  name,
		Namespace: "default",
	}
	cfg.CurrentContext = name

	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := clientcmd.WriteToFile(*cfg, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
