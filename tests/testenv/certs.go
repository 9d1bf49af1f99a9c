package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki holds the paths of the PEM files generated for one control plane, plus
// the PEM bytes the kubeconfig embeds.
//
// All keys are RSA 2048 in PKCS#1 PEM ("RSA PRIVATE KEY"): that is the form
// verified with kube-rs (rustls + ring) as well as kubectl.
type pki struct {
	CACert         string // CA that signs the serving cert and the admin client cert
	ServingCert    string // kube-apiserver serving cert for 127.0.0.1 / localhost
	ServingKey     string
	AdminCert      string // client cert CN=admin, O=system:masters
	AdminKey       string
	ServiceAcctKey string // RSA key for signing and verifying service-account tokens

	CAPEM, AdminCertPEM, AdminKeyPEM []byte
}

// generatePKI writes a fresh CA, serving cert, admin client cert and
// service-account key into dir. Nothing is reused between runs.
// pkiPaths names the files of a PKI in dir.
func pkiPaths(dir string) *pki {
	return &pki{
		CACert:         filepath.Join(dir, "ca.crt"),
		ServingCert:    filepath.Join(dir, "apiserver.crt"),
		ServingKey:     filepath.Join(dir, "apiserver.key"),
		AdminCert:      filepath.Join(dir, "admin.crt"),
		AdminKey:       filepath.Join(dir, "admin.key"),
		ServiceAcctKey: filepath.Join(dir, "sa.key"),
	}
}

// loadPKI reads the PKI an earlier run wrote to dir (a restart with --keep).
func loadPKI(dir string) (*pki, error) {
	p := pkiPaths(dir)
	var err error
	for path, dst := range map[string]*[]byte{p.CACert: &p.CAPEM, p.AdminCert: &p.AdminCertPEM, p.AdminKey: &p.AdminKeyPEM} {
		if *dst, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func generatePKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := pkiPaths(dir)

	now := time.Now()
	notBefore, notAfter := now.Add(-time.Hour), now.Add(365*24*time.Hour)

	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "clientops-testenv-ca"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p.CAPEM = pemCert(caDER)

	issue := func(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, nil, err
		}
		tmpl.SerialNumber = serial()
		tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		tmpl.BasicConstraintsValid = true
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return nil, nil, err
		}
		return pemCert(der), pemRSAKey(key), nil
	}

	servingPEM, servingKeyPEM, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 0, 0, 1)},
		DNSNames: []string{
			"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("serving cert: %w", err)
	}
	p.AdminCertPEM, p.AdminKeyPEM, err = issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("admin cert: %w", err)
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}

	for path, data := range map[string][]byte{
		p.CACert:         p.CAPEM,
		p.ServingCert:    servingPEM,
		p.ServingKey:     servingKeyPEM,
		p.AdminCert:      p.AdminCertPEM,
		p.AdminKey:       p.AdminKeyPEM,
		p.ServiceAcctKey: pemRSAKey(saKey),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1)) // strictly positive
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pemRSAKey(key *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}
