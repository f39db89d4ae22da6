package main

// Join tokens: the server token (K10<ca hash>::server:<secret>) and the agent token
// (K10<ca hash>::node:<secret>), or their bare secrets. A joining node's bootstrap
// kubeconfig carries a bootstrap token (token-id.token-secret) derived from its secret.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
)

func readSecretFile(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		fatalf("failed to read token file %s: %v", path, err)
	}
	return strings.TrimSpace(string(raw))
}

func serverToken(c Config) string {
	if c.str("token-file") != "" {
		return readSecretFile(c.str("token-file"))
	}
	if c.str("token") != "" {
		return c.str("token")
	}
	return os.Getenv("K3S_TOKEN")
}

func agentToken(c Config) string {
	if c.str("agent-token-file") != "" {
		return readSecretFile(c.str("agent-token-file"))
	}
	return c.str("agent-token")
}

// secretOf: K10<hash>::<user>:<secret> or a bare secret -> the secret.
func secretOf(token string) string {
	if strings.HasPrefix(token, "K10") {
		return token[strings.LastIndex(token, ":")+1:]
	}
	return token
}

// hashOf: the CA hash a full token pins ("" for a bare secret: trust on first use, as K3s).
func hashOf(token string) string {
	if strings.HasPrefix(token, "K10") && strings.Contains(token, "::") {
		return token[3:strings.Index(token, "::")]
	}
	return ""
}

func randomSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// bootstrapToken derives the bootstrap token (id, secret) from a join secret.
func bootstrapToken(secret string) (string, string) {
	id := sha256.Sum256([]byte("edgewasm-k3s-standin/id/" + secret))
	key := sha256.Sum256([]byte("edgewasm-k3s-standin/secret/" + secret))
	return hex.EncodeToString(id[:])[:6], hex.EncodeToString(key[:])[:16]
}
