package parse

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/sharedtest"
	"github.com/vigilsec/vigil/internal/sigma"
)

// TestSigmaNetworkRules loads SigmaHQ's Zeek rules (every one must load
// and compile) and its generic dns rules, then checks that rules of several
// Zeek services, and dns rules on Zeek and Suricata records, fire on our
// samples and stay quiet on a variant of the same sample that they must
// not match.
func TestSigmaNetworkRules(t *testing.T) {
	root := sharedtest.Dir(t, "sigma", "rules", "network")
	zeekDir := filepath.Join(root, "zeek")
	zeekRules, errs := sigma.LoadDir(zeekDir)
	if len(errs) > 0 {
		t.Fatalf("loading %s: %v", zeekDir, errs)
	}
	files, err := filepath.Glob(filepath.Join(zeekDir, "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(zeekRules.Rules) != len(files) || len(files) == 0 {
		t.Fatalf("got %d Zeek rules from %d files, want one per file", len(zeekRules.Rules), len(files))
	}
	dnsRules, errs := sigma.LoadDir(filepath.Join(root, "dns"))
	if len(errs) > 0 {
		t.Fatalf("loading dns rules: %v", errs)
	}
	rules := append(append([]*sigma.Rule{}, zeekRules.Rules...), dnsRules.Rules...)
	eng, skipped, err := detect.Compile(rules, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range skipped {
		t.Errorf("rule %s not compiled: %v", s.Rule.Source, s.Reason)
	}

	tests := []struct {
		rule, sample string
		// quiet lists old, new pairs that turn the sample into one the
		// rule must not match.
		quiet []string
	}{
		{"zeek_dns_mining_pools.yml", "zeek/dns.json", []string{`"rejected":false`, `"rejected":true`}},
		{"zeek_dns_mining_pools.yml", "zeek/dns.json", []string{`supportxmr.com"`, `supportxmr.com.example"`}},
		{"net_dns_pua_cryptocoin_mining_xmr.yml", "zeek/dns.json", []string{`eu1.pool.supportxmr.com`, `eu1.pool.example.com`}},
		{"zeek_http_susp_file_ext_from_susp_tld.yml", "zeek/http.json", []string{`example.top`, `example.com`}},
		{"zeek_http_executable_download_from_webdav.yml", "zeek/http_webdav.json", []string{`/webdav/tools/procdump64.exe`, `/files/readme.txt`, `Microsoft-WebDAV-MiniRedir`, `Mozilla`}},
		{"zeek_http_webdav_put_request.yml", "zeek/http_webdav_put.json", []string{`"id.resp_h":"198.51.100.61"`, `"id.resp_h":"192.168.7.61"`}},
		{"zeek_default_cobalt_strike_certificate.yml", "zeek/x509.json", []string{`8BB00EE`, `8BB00EF`}},
		{"zeek_dce_rpc_mitre_bzar_execution.yml", "zeek/dce_rpc.json", []string{`CreateServiceW`, `QueryServiceStatus`}},
		{"zeek_smb_converted_win_impacket_secretdump.yml", "zeek/smb_files.json", []string{`QxLmTpRa.tmp`, `QxLmTpRa.dll`}},
		{"zeek_susp_kerberos_rc4.yml", "zeek/kerberos.json", []string{`rc4-hmac`, `aes256-cts-hmac-sha1-96`}},
		{"zeek_rdp_public_listener.yml", "zeek/rdp.json", []string{`203.0.113.45`, `10.20.30.12`}},
		{"net_dns_susp_telegram_api.yml", "suricata/dns_query.json", []string{`api.telegram.org`, `api.example.org`}},
		{"net_dns_susp_telegram_api.yml", "suricata/dns.json", []string{`api.telegram.org`, `api.example.org`}},
	}
	p := New(Options{})
	fired := func(t *testing.T, rule, line string) bool {
		t.Helper()
		var ev event.Event
		p.Parse(&ingest.Raw{Data: []byte(line), Received: testReceived}, &ev)
		for _, d := range eng.MatchAll(&ev) {
			if filepath.Base(d.Rule.Source) == rule {
				return true
			}
		}
		return false
	}
	services := map[string]bool{}
	for _, tc := range tests {
		t.Run(strings.TrimSuffix(tc.rule, ".yml")+"/"+tc.sample, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.sample))
			if err != nil {
				t.Fatal(err)
			}
			line := string(data)
			if !fired(t, tc.rule, line) {
				t.Errorf("%s on %s: got no detection, want one", tc.rule, tc.sample)
			}
			quiet := strings.NewReplacer(tc.quiet...).Replace(line)
			if quiet == line {
				t.Fatalf("the quiet variant of %s is the sample itself", tc.sample)
			}
			if fired(t, tc.rule, quiet) {
				t.Errorf("%s on the quiet variant of %s: got a detection, want none", tc.rule, tc.sample)
			}
			var ev event.Event
			p.Parse(&ingest.Raw{Data: data, Received: testReceived}, &ev)
			if ev.Logsource.Product == "zeek" {
				services[ev.Logsource.Service] = true
			}
		})
	}
	if len(services) < 5 {
		t.Errorf("rules fired on %d Zeek services (%v), want at least 5", len(services), services)
	}
}
