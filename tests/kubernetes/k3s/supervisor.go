package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// supervisor runs the components as K3s's children: one exiting stops them all and the
// stand-in exits non-zero, so systemd restarts the whole node as it would K3s.
type supervisor struct {
	procs []*exec.Cmd
	died  chan string
}

func newSupervisor() *supervisor {
	s := &supervisor{died: make(chan string, 8)}
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-signals
		s.stop()
		logf("info", "stopped on %v", sig)
		os.Exit(0)
	}()
	return s
}

func (s *supervisor) start(name, binary string, args ...string) {
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fatalf("start %s: %v", name, err)
	}
	logf("info", "Running %s %s", name, strings.Join(args, " "))
	s.procs = append(s.procs, cmd)
	go func() {
		err := cmd.Wait()
		s.died <- fmt.Sprintf("%s exited: %v", name, err)
	}()
}

func (s *supervisor) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		if p := s.procs[i].Process; p != nil {
			_ = p.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, cmd := range s.procs {
		for cmd.ProcessState == nil && time.Now().Before(deadline) {
			if cmd.Process.Signal(syscall.Signal(0)) != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = cmd.Process.Kill()
	}
}

// ready tells systemd (Type=notify) the node is up, as K3s does.
func (s *supervisor) ready() {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		logf("error", "sd_notify: %v", err)
		return
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("READY=1"))
}

func (s *supervisor) wait() {
	why := <-s.died
	s.stop()
	fatalf("%s", why)
}

func (s *supervisor) check() {
	select {
	case why := <-s.died:
		s.stop()
		fatalf("%s", why)
	default:
	}
}

func until(what string, timeout time.Duration, s *supervisor, ok func() bool) {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if s != nil {
			s.check()
		}
		if time.Now().After(deadline) {
			if s != nil {
				s.stop()
			}
			fatalf("timed out waiting for %s", what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func run(binary string, args ...string) (string, error) {
	return runInput("", binary, args...)
}

func runInput(input, binary string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command(binary, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(input), &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %v: %s", binary, strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

func umask(mask int) int { return syscall.Umask(mask) }

func goVersion() string { return runtime.Version() }

// The Kubernetes release of the components (-X main.kubernetesVersion=, from go.mod).
var kubernetesVersion = "unset"

var embeddedTemplate = template.Must(template.New("embedded").Parse(`apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: {{ .CA }}
    server: {{ .Server }}
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
preferences: {}
users:
- name: default
  user:
    client-certificate-data: {{ .Cert }}
    client-key-data: {{ .Key }}
`))

func embeddedKubeconfig(server string, ca, cert, key []byte) []byte {
	var b bytes.Buffer
	enc := base64.StdEncoding.EncodeToString
	_ = embeddedTemplate.Execute(&b, map[string]string{"Server": server, "CA": enc(ca), "Cert": enc(cert), "Key": enc(key)})
	return b.Bytes()
}
