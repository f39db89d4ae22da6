package main

// Certificates: one CA (server/tls/server-ca.*) signs the serving and client
// certificates, where K3s keeps separate server, client and request-header CAs.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func writeFile(path string, data []byte, mode os.FileMode) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		fatalf("mkdir %s: %v", filepath.Dir(path), err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		fatalf("write %s: %v", path, err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		fatalf("chmod %s: %v", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		fatalf("rename %s: %v", path, err)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func newKey(path string) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fatalf("key: %v", err)
	}
	der, _ := x509.MarshalECPrivateKey(key)
	writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
	return key
}

func readKey(path string) *ecdsa.PrivateKey {
	raw, err := os.ReadFile(path)
	if err != nil {
		fatalf("read %s: %v", path, err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		fatalf("%s holds no PEM key", path)
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		fatalf("parse %s: %v", path, err)
	}
	return key
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

// loadOrCreateCA keeps the CA across restarts: joined nodes trust it by its hash.
func loadOrCreateCA(dir string) *authority {
	certPath, keyPath := filepath.Join(dir, "server-ca.crt"), filepath.Join(dir, "server-ca.key")
	if !exists(certPath) || !exists(keyPath) {
		key := newKey(keyPath)
		now := time.Now()
		template := &x509.Certificate{
			SerialNumber: serial(), Subject: pkix.Name{CommonName: "k3s-server-ca@" + now.Format("20060102")},
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		}
		der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
		if err != nil {
			fatalf("CA: %v", err)
		}
		writeFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	}
	raw, _ := os.ReadFile(certPath)
	block, _ := pem.Decode(raw)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		fatalf("parse %s: %v", certPath, err)
	}
	return &authority{cert: cert, key: readKey(keyPath), pem: raw}
}

// caHash is what a K10 token carries: sha256 of the CA bundle as served.
func caHash(caPEM []byte) string {
	sum := sha256.Sum256(caPEM)
	return hex.EncodeToString(sum[:])
}

// issue writes <stem>.crt (leaf, then the CA: servers hand out the chain) and <stem>.key.
func (ca *authority) issue(dir, stem, cn string, orgs []string, server bool, ips []net.IP, dns []string) {
	key := newKey(filepath.Join(dir, stem+".key"))
	usage := x509.ExtKeyUsageClientAuth
	if server {
		usage = x509.ExtKeyUsageServerAuth
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: ips, DNSNames: dns,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		fatalf("certificate %s: %v", stem, err)
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.pem...)
	writeFile(filepath.Join(dir, stem+".crt"), chain, 0o644)
}

// servedCA asks the server at host:port for its CA the way K3s's /cacerts does: over TLS
// it does not trust yet, checked afterwards against the token's hash when it has one.
func servedCA(address string) ([]byte, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", address,
		&tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	chain := conn.ConnectionState().PeerCertificates
	last := chain[len(chain)-1]
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: last.Raw}), nil
}
