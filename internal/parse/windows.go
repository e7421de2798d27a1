package parse

import (
	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/event"
)

// winChannel is what a Windows event channel maps to.
type winChannel struct {
	service string
	dataset event.Value
}

// winChannels maps an event log channel to its Sigma service (from the
// channel list of the Sigma project's logsource tables) and ECS dataset.
var winChannels = func() map[string]winChannel {
	m := map[string]string{
		"Security":                             "security",
		"System":                               "system",
		"Application":                          "application",
		"Microsoft-Windows-Sysmon/Operational": "sysmon",
		"Windows PowerShell":                   "powershell-classic",
		"Microsoft-Windows-PowerShell/Operational":                                 "powershell",
		"PowerShellCore/Operational":                                               "powershell",
		"Microsoft-Windows-NTLM/Operational":                                       "ntlm",
		"Microsoft-Windows-TaskScheduler/Operational":                              "taskscheduler",
		"Microsoft-Windows-WMI-Activity/Operational":                               "wmi",
		"Microsoft-Windows-DHCP-Server/Operational":                                "dhcp",
		"Microsoft-Windows-PrintService/Admin":                                     "printservice-admin",
		"Microsoft-Windows-PrintService/Operational":                               "printservice-operational",
		"Microsoft-Windows-SmbClient/Security":                                     "smbclient-security",
		"Microsoft-Windows-SmbClient/Connectivity":                                 "smbclient-connectivity",
		"Microsoft-Windows-SMBServer/Connectivity":                                 "smbserver-connectivity",
		"Microsoft-Windows-TerminalServices-LocalSessionManager/Operational":       "terminalservices-localsessionmanager",
		"Microsoft-Windows-CodeIntegrity/Operational":                              "codeintegrity-operational",
		"Microsoft-Windows-AppLocker/MSI and Script":                               "applocker",
		"Microsoft-Windows-AppLocker/EXE and DLL":                                  "applocker",
		"Microsoft-Windows-AppLocker/Packaged app-Deployment":                      "applocker",
		"Microsoft-Windows-AppLocker/Packaged app-Execution":                       "applocker",
		"MSExchange Management":                                                    "msexchange-management",
		"Microsoft-Windows-Windows Defender/Operational":                           "windefend",
		"Microsoft-Windows-Windows Firewall With Advanced Security/Firewall":       "firewall-as",
		"Microsoft-Windows-Bits-Client/Operational":                                "bits-client",
		"Microsoft-Windows-Security-Mitigations/Kernel Mode":                       "security-mitigations",
		"Microsoft-Windows-Security-Mitigations/User Mode":                         "security-mitigations",
		"Microsoft-Windows-Diagnosis-Scripted/Operational":                         "diagnosis-scripted",
		"Microsoft-Windows-Shell-Core/Operational":                                 "shell-core",
		"OpenSSH/Operational":                                                      "openssh",
		"Microsoft-Windows-LDAP-Client/Debug":                                      "ldap",
		"Microsoft-Windows-BitLocker/BitLocker Management":                         "bitlocker",
		"Microsoft-Windows-VHDMP/Operational":                                      "vhdmp",
		"Microsoft-Windows-AppXDeploymentServer/Operational":                       "appxdeployment-server",
		"Microsoft-Windows-LSA/Operational":                                        "lsa-server",
		"Microsoft-Windows-AppxPackaging/Operational":                              "appxpackaging-om",
		"Microsoft-Windows-DNS Client Events/Operational":                          "dns-client",
		"Microsoft-Windows-AppModel-Runtime/Admin":                                 "appmodel-runtime",
		"Microsoft-Windows-CAPI2/Operational":                                      "capi2",
		"Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational": "certificateservicesclient-lifecycle-system",
		"Microsoft-Windows-Kernel-ShimEngine/Operational":                          "kernel-shimengine",
		"Microsoft-Windows-Kernel-ShimEngine/Diagnostic":                           "kernel-shimengine",
		"Microsoft-Windows-Application-Experience/Program-Telemetry":               "application-experience",
		"Microsoft-Windows-Application-Experience/Program-Compatibility-Assistant": "application-experience",
		"Microsoft-Windows-Ntfs/Operational":                                       "ntfs",
		"Microsoft-Windows-Hyper-V-Worker":                                         "hyper-v-worker",
		"Microsoft-Windows-Hyper-V-Worker-Admin":                                   "hyper-v-worker",
		"Microsoft-Windows-Kernel-EventTracing":                                    "kernel-event-tracing",
		"Microsoft-Windows-Kernel-EventTracing/Admin":                              "kernel-event-tracing",
		"Microsoft-Windows-SENSE/Operational":                                      "sense",
		"Microsoft-ServiceBus-Client/Admin":                                        "servicebus-client",
		"Microsoft-ServiceBus-Client/Operational":                                  "servicebus-client",
		"Microsoft-IIS-Configuration/Operational":                                  "iis-configuration",
		"Microsoft-Windows-DNS-Server/Analytical":                                  "dns-server-analytic",
		"DNS Server": "dns-server",
		"Microsoft-Windows-DriverFrameworks-UserMode/Operational":                    "driver-framework",
		"Microsoft-Windows-Kernel-PnP/Configuration":                                 "kernel-pnp",
		"Microsoft-Windows-Windows Firewall With Advanced Security/Firewall Verbose": "firewall-as",
		"Microsoft-Windows-SmbServer/Audit":                                          "smbserver-audit",
		"Microsoft-Windows-SMBServer/Security":                                       "smbserver-security",
		"Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational":     "terminalservices-remoteconnectionmanager",
		"Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Operational":              "rdp",
	}
	out := make(map[string]winChannel, len(m)+1)
	for ch, svc := range m {
		out[ch] = winChannel{service: svc, dataset: event.String("windows." + svc)}
	}
	out[linuxSysmonChannel] = winChannel{service: "sysmon", dataset: event.String("linux.sysmon")}
	return out
}()

var vWindowsOther = event.String("windows.eventlog")

// linuxSysmonChannel is the channel of Sysmon for Linux, whose events have
// the Windows event shape but belong to product linux.
const linuxSysmonChannel = "Linux-Sysmon/Operational"

// evtxJSON flattens an evtx_dump JSON event ({"Event": {"System": ...,
// "EventData" | "UserData": ...}}) into the names Sigma rules use.
func (st *state) evtxJSON(e *fastjson.Value) {
	sys := e.Get("System")
	st.kind()
	if p := sys.Get("Provider", "#attributes"); p != nil {
		st.winStr(kProviderName, p.Get("Name"))
		st.winStr(kProviderGUID, p.Get("Guid"))
	}
	eid := sys.Get("EventID")
	if eid != nil && eid.Type() == fastjson.TypeObject {
		// <EventID Qualifiers="16384">7036</EventID>
		eid = eid.Get("#text")
	}
	st.winNum(kEventID, eid)
	st.winNum(kVersion, sys.Get("Version"))
	st.winNum(kLevel, sys.Get("Level"))
	st.winNum(kTask, sys.Get("Task"))
	st.winNum(kOpcode, sys.Get("Opcode"))
	st.winStr(kKeywords, sys.Get("Keywords"))
	if tc := sys.Get("TimeCreated", "#attributes", "SystemTime"); tc != nil {
		if t, ok := st.timeValue(tc); ok {
			st.ev.Time = t
		}
	}
	st.winNum(kRecordID, sys.Get("EventRecordID"))
	if c := sys.Get("Correlation", "#attributes"); c != nil {
		st.winStr(kActivityID, c.Get("ActivityID"))
	}
	if x := sys.Get("Execution", "#attributes"); x != nil {
		st.winNum(kProcessID, x.Get("ProcessID"))
		st.winNum(kThreadID, x.Get("ThreadID"))
	}
	st.winStr(kChannel, sys.Get("Channel"))
	st.winStr(kComputer, sys.Get("Computer"))
	if s := sys.Get("Security", "#attributes"); s != nil {
		st.winStr(kSecUserID, s.Get("UserID"))
	}
	if d := e.Get("EventData"); d != nil && d.Type() == fastjson.TypeObject {
		st.winData(d)
	}
	if u := e.Get("UserData"); u != nil && u.Type() == fastjson.TypeObject {
		// UserData holds one element whose children are the fields.
		o, _ := u.Object()
		o.Visit(func(k []byte, v *fastjson.Value) {
			if v.Type() == fastjson.TypeObject && !isAttr(k) {
				st.winData(v)
			}
		})
	}
	st.flushArena()
	st.winECS(st.ev.Str("Channel"))
}

func isAttr(k []byte) bool { return len(k) > 0 && k[0] == '#' }

// winData adds the members of an EventData (or UserData element) object
// under their own names, skipping XML attributes.
func (st *state) winData(d *fastjson.Value) {
	o, _ := d.Object()
	o.Visit(func(k []byte, v *fastjson.Value) {
		if isAttr(k) || st.truncated {
			return
		}
		st.name = append(st.name[:0], k...)
		// <Data Name="x" attr="..">text</Data> renders as an object with
		// #attributes and #text: take the text.
		if v.Type() == fastjson.TypeObject {
			if t := v.Get("#text"); t != nil {
				v = t
			}
		}
		st.jsonValue(v, 1)
	})
	st.name = st.name[:0]
}

// winStr adds a string member (or the text of a number) under k.
func (st *state) winStr(k event.Key, v *fastjson.Value) {
	if v == nil {
		return
	}
	switch v.Type() {
	case fastjson.TypeString:
		st.setArena(k, event.KindString, 0, v.GetStringBytes())
	case fastjson.TypeNumber:
		start := len(st.arena)
		st.arena = v.MarshalTo(st.arena)
		st.pendField(k, event.KindString, 0, start)
	}
}

// winNum adds a numeric member under k, keeping strings that are not
// numbers as strings.
func (st *state) winNum(k event.Key, v *fastjson.Value) {
	if v == nil {
		return
	}
	switch v.Type() {
	case fastjson.TypeNumber, fastjson.TypeString:
		start := len(st.arena)
		if v.Type() == fastjson.TypeString {
			st.arena = append(st.arena, v.GetStringBytes()...)
		} else {
			st.arena = v.MarshalTo(st.arena)
		}
		nv, ok := number(bytesToString(st.arena[start:]))
		if !ok {
			nv.Kind = event.KindString
		}
		st.pendField(k, nv.Kind, nv.Num, start)
	}
}

// winECS adds the ECS names and the logsource of a Windows event. The
// arena must be flushed (channel is read back from the event).
func (st *state) winECS(channel string) {
	ev := st.ev
	ch, known := winChannels[channel]
	ev.Logsource.Product = "windows"
	ev.Logsource.Service = ch.service
	if channel == linuxSysmonChannel {
		ev.Logsource.Product = "linux"
	}
	if !ev.Has(kHostName) {
		if v, ok := ev.Get(kComputer); ok {
			st.set(kHostName, v)
		}
	}
	if !ev.Has(kEventCode) {
		if v, ok := ev.Get(kEventID); ok {
			st.set(kEventCode, event.String(v.Str))
		}
	}
	if !ev.Has(kWinChannel) && channel != "" {
		st.set(kWinChannel, event.String(channel))
	}
	if !ev.Has(kWinProvider) {
		if v, ok := ev.Get(kProviderName); ok {
			st.set(kWinProvider, v)
		}
	}
	if !ev.Has(kDataset) {
		if known {
			st.set(kDataset, ch.dataset)
		} else {
			st.set(kDataset, vWindowsOther)
		}
	}
	st.winParams(0) // %%N message parameters (winmsg.go)
}

// winlogbeat handles a Winlogbeat document: everything is flattened as
// usual, and the winlog members are repeated under the flat names Sigma
// rules use.
func (st *state) winlogbeat(doc, w *fastjson.Value) {
	o, _ := doc.Object()
	st.flattenObject(o, 0)
	st.jsonTime(doc)
	st.kindSet = st.ev.Has(kKind)
	st.kind()
	for _, sect := range [...]string{"event_data", "user_data"} {
		if d := w.Get(sect); d != nil && d.Type() == fastjson.TypeObject {
			st.winData(d)
		}
	}
	eid := w.Get("event_id")
	st.winNum(kEventID, eid)
	st.winStr(kChannel, w.Get("channel"))
	st.winStr(kProviderName, w.Get("provider_name"))
	st.winStr(kProviderGUID, w.Get("provider_guid"))
	st.winStr(kComputer, w.Get("computer_name"))
	st.winNum(kRecordID, w.Get("record_id"))
	st.winStr(kTask, w.Get("task"))
	st.winStr(kOpcode, w.Get("opcode"))
	st.winNum(kVersion, w.Get("version"))
	st.winStr(kActivityID, w.Get("activity_id"))
	st.winNum(kProcessID, w.Get("process", "pid"))
	st.winNum(kThreadID, w.Get("process", "thread", "id"))
	st.winStr(kSecUserID, w.Get("user", "identifier"))
	if kw := w.Get("keywords"); kw != nil {
		if kw.Type() == fastjson.TypeArray {
			a, _ := kw.Array()
			for _, x := range a {
				st.winStr(kKeywords, x)
			}
		} else {
			st.winStr(kKeywords, kw)
		}
	}
	st.winStr(kLevel, doc.Get("log", "level"))
	st.flushArena()
	st.winECS(st.ev.Str("Channel"))
}

// windowsFlat completes a Windows event that arrived as flat JSON with the
// Sigma names already at the top (NXLog im_msvistalog, many SIEM exports):
// EventID, Channel, and the EventData names. The provider and computer are
// taken from the names those tools use when the Sigma names are absent.
func (st *state) windowsFlat(doc *fastjson.Value) {
	if !st.ev.Has(kProviderName) {
		for _, n := range [...]string{"SourceName", "ProviderName", "Provider", "EventSourceName", "Source"} {
			if v := doc.Get(n); v != nil && v.Type() == fastjson.TypeString {
				st.winStr(kProviderName, v)
				break
			}
		}
	}
	if !st.ev.Has(kComputer) {
		for _, n := range [...]string{"Hostname", "ComputerName", "computer_name"} {
			if v := doc.Get(n); v != nil && v.Type() == fastjson.TypeString {
				st.winStr(kComputer, v)
				break
			}
		}
	}
	if st.ev.Time.IsZero() {
		for _, n := range [...]string{"EventTime", "TimeCreated", "EventReceivedTime", "TimeGenerated"} {
			if v := doc.Get(n); v != nil {
				if t, ok := st.timeValue(v); ok {
					st.ev.Time = t
					break
				}
			}
		}
	}
	if !st.ev.Has(kMessage) {
		if v := doc.Get("Message"); v != nil && v.Type() == fastjson.TypeString {
			st.winStr(kMessage, v)
		}
	}
	st.azureWindows(doc) // Log Analytics rows (azure.go)
	st.flushArena()
	st.winECS(st.ev.Str("Channel"))
}
