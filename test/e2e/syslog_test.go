package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeCert writes a self-signed CA and a server certificate for 127.0.0.1
// signed by it; it returns the file paths.
func writeCert(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return caFile, certFile, keyFile
}

// TestLoggerUDP sends an sshd line with util-linux logger over UDP and
// finds it normalized to ECS.
func TestLoggerUDP(t *testing.T) {
	logger := requireProgram(t, "logger")
	s := startServer(t, serverOpts{})
	host, port, _ := net.SplitHostPort(s.udp)
	marker := fmt.Sprintf("%d", time.Now().UnixNano()%1000000)
	user := "admin" + marker
	out, err := exec.Command(logger, "--server", host, "--port", port, "--udp", "--rfc3164", "-t", "sshd[4242]",
		"Failed password for invalid user "+user+" from 203.0.113.5 port 51234 ssh2").CombinedOutput()
	if err != nil {
		t.Fatalf("logger: %v: %s", err, out)
	}
	r := s.waitTotal("user.name:"+user, 1, 15*time.Second)
	if r.Total != 1 || len(r.Events) != 1 {
		t.Fatalf("search user.name:%s: total %d, want 1", user, r.Total)
	}
	ev := r.Events[0]
	want := map[string]string{
		"event.dataset": "sshd", "source.ip": "203.0.113.5", "source.port": "51234",
		"event.outcome": "failure", "event.category": "authentication", "process.name": "sshd",
	}
	for k, v := range want {
		if got := str(ev[k]); got != v {
			t.Errorf("%s = %q, want %q (event %v)", k, got, v, ev)
		}
	}
}

// TestRsyslogForwarding runs a real rsyslogd that receives lines on two
// local UDP ports and forwards one stream over TCP with RFC 6587 octet
// counting and the other over TLS (RFC 5425) to vigil.
func TestRsyslogForwarding(t *testing.T) {
	rsyslogd := requireProgram(t, "rsyslogd")
	logger := requireProgram(t, "logger")
	caFile, certFile, keyFile := writeCert(t)
	s := startServer(t, serverOpts{tls: true, cert: certFile, key: keyFile})

	dir := t.TempDir()
	inTCP, inTLS := freePort(t, "udp"), freePort(t, "udp")
	_, pTCP, _ := net.SplitHostPort(inTCP)
	_, pTLS, _ := net.SplitHostPort(inTLS)
	_, vTCP, _ := net.SplitHostPort(s.tcp)
	_, vTLS, _ := net.SplitHostPort(s.tls)
	conf := fmt.Sprintf(`global(workDirectory=%q defaultNetstreamDriverCAFile=%q)
module(load="imudp")
input(type="imudp" address="127.0.0.1" port=%q ruleset="viaTCP")
input(type="imudp" address="127.0.0.1" port=%q ruleset="viaTLS")
ruleset(name="viaTCP" queue.type="LinkedList") {
  action(type="omfwd" target="127.0.0.1" port=%q protocol="tcp" TCP_Framing="octet-counted"
         template="RSYSLOG_SyslogProtocol23Format" action.resumeRetryCount="-1" action.resumeInterval="1")
}
ruleset(name="viaTLS" queue.type="LinkedList") {
  action(type="omfwd" target="127.0.0.1" port=%q protocol="tcp" StreamDriver="gtls" StreamDriverMode="1"
         StreamDriverAuthMode="x509/certvalid"
         action.resumeRetryCount="-1" action.resumeInterval="1")
}
`, dir, caFile, pTCP, pTLS, vTCP, vTLS)
	confFile := filepath.Join(dir, "rsyslog.conf")
	os.WriteFile(confFile, []byte(conf), 0o600)
	if out, err := exec.Command(rsyslogd, "-N1", "-f", confFile).CombinedOutput(); err != nil {
		t.Fatalf("rsyslogd rejected its config: %v\n%s", err, out)
	}
	rs := exec.Command(rsyslogd, "-n", "-f", confFile, "-i", filepath.Join(dir, "rsyslogd.pid"))
	var rsLog strings.Builder
	rs.Stdout, rs.Stderr = &rsLog, &rsLog
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		rs.Process.Kill()
		rs.Wait()
		if t.Failed() {
			t.Logf("rsyslogd output:\n%s", rsLog.String())
		}
	}()
	time.Sleep(500 * time.Millisecond) // rsyslogd binds its inputs

	marker := fmt.Sprintf("%d", time.Now().UnixNano()%1000000)
	send := func(port, tag, msg string) {
		t.Helper()
		out, err := exec.Command(logger, "--server", "127.0.0.1", "--port", port, "--udp", "--rfc3164", "-t", tag, msg).CombinedOutput()
		if err != nil {
			t.Fatalf("logger: %v: %s", err, out)
		}
	}
	tcpUser, tlsUser := "tcp"+marker, "tls"+marker
	send(pTCP, "sshd[100]", "Accepted publickey for "+tcpUser+" from 198.51.100.7 port 40000 ssh2: ED25519 SHA256:abc")
	send(pTLS, "sudo", "  "+tlsUser+" : TTY=pts/0 ; PWD=/home/"+tlsUser+" ; USER=root ; COMMAND=/usr/bin/id")

	r := s.waitTotal("user.name:"+tcpUser, 1, 30*time.Second)
	if r.Total != 1 {
		t.Fatalf("TCP (octet-counted) path: total %d for user.name:%s, want 1", r.Total, tcpUser)
	}
	ev := r.Events[0]
	for k, v := range map[string]string{"event.dataset": "sshd", "event.outcome": "success", "source.ip": "198.51.100.7", "vigil.input": "syslog-tcp"} {
		if got := str(ev[k]); got != v {
			t.Errorf("TCP path: %s = %q, want %q (event %v)", k, got, v, ev)
		}
	}
	r = s.waitTotal("user.name:"+tlsUser, 1, 30*time.Second)
	if r.Total != 1 {
		t.Fatalf("TLS path: total %d for user.name:%s, want 1", r.Total, tlsUser)
	}
	ev = r.Events[0]
	for k, v := range map[string]string{"event.dataset": "sudo", "process.command_line": "/usr/bin/id", "vigil.input": "syslog-tls"} {
		if got := str(ev[k]); got != v {
			t.Errorf("TLS path: %s = %q, want %q (event %v)", k, got, v, ev)
		}
	}
}

// TestMillionLinesFourConnections sends 1,000,000 syslog lines over 4 TCP
// connections flat out; exactly that many must become searchable.
func TestMillionLinesFourConnections(t *testing.T) {
	total := 1_000_000
	if testing.Short() {
		total = 100_000
	}
	s := startServer(t, serverOpts{})
	const conns = 4
	run := fmt.Sprintf("load%d", time.Now().UnixNano()%1000000)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", s.tcp)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			w := bufio.NewWriterSize(conn, 256<<10)
			for i := c; i < total; i += conns {
				fmt.Fprintf(w, "<38>Nov 22 04:16:49 web-%d %s[%d]: Failed password for user%d from 10.%d.%d.%d port %d ssh2\n",
					i%50, run, 1000+c, i%997, (i>>16)&255, (i>>8)&255, i&255, 1024+i%60000)
			}
			if err := w.Flush(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	sent := time.Since(start)
	r := s.waitTotal("process.name:"+run, int64(total), 5*time.Minute)
	elapsed := time.Since(start)
	if r.Total != int64(total) {
		t.Fatalf("searchable: %d, want exactly %d", r.Total, total)
	}
	t.Logf("%d lines over %d connections: sent in %v, all searchable after %v (%.0f events/s end to end)",
		total, conns, sent.Round(time.Millisecond), elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
	// Nothing counted twice: the exact total rules out duplicates, and a
	// second look after a pause must not grow: absence cannot be waited
	// for, so the vigil serve process gets 500 ms of real time.
	time.Sleep(500 * time.Millisecond)
	if r2 := s.search("process.name:"+run, 1); r2.Total != int64(total) {
		t.Fatalf("total grew to %d after the stream ended, want %d", r2.Total, total)
	}
}
