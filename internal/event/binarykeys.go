package event

import (
	"slices"
)

// docKeys are field names a version 2 document writes as a small number
// (its index + 1) instead of spelled out. The list is part of the stored
// format: entries are only ever appended, never changed or reordered.
var docKeys = [...]string{
	// ECS names the parsers set.
	"@timestamp", "message", "log.original", "event.kind", "event.category", "event.action",
	"event.outcome", "event.dataset", "host.name", "source.ip", "source.port", "destination.ip",
	"destination.port", "user.name", "process.name", "process.pid", "process.command_line", "tags",
	"event.code", "event.severity", "error.message", "log.level", "source.address",
	"log.syslog.appname", "log.syslog.facility.code", "log.syslog.facility.name", "log.syslog.msgid",
	"log.syslog.priority", "log.syslog.severity.code", "log.syslog.severity.name",
	"process.executable", "process.parent.pid", "process.title", "process.tty.name",
	"process.working_directory", "user.id", "user.effective.id", "user.audit.id", "user.home",
	"user.shell", "user.target.name", "group.id", "group.name", "group.effective.id", "session.id",
	"ssh.auth_method", "pam.type", "rule.name", "network.transport", "file.name", "file.path",
	"http.request.method", "http.request.referrer", "http.request.x_forwarded_for",
	"http.response.body.bytes", "http.response.status_code", "http.version", "url.original",
	"url.path", "url.query", "url.domain", "user_agent.original", "auditd.message_type",
	"auditd.sequence", "observer.product", "observer.vendor", "observer.version",
	"observer.ingress.interface.name", "observer.egress.interface.name",
	"cef.version", "cef.device_vendor", "cef.device_product", "cef.device_version",
	"cef.device_event_class_id", "cef.name", "cef.severity",
	"leef.version", "leef.vendor", "leef.product", "leef.product_version", "leef.event_id",
	"winlog.channel", "winlog.provider_name", "vigil.input", "vigil.source",
	// Windows event fields (evtx_dump, Winlogbeat).
	"EventID", "Channel", "Computer", "Provider_Name", "Provider_Guid", "EventRecordID", "Level",
	"Task", "Opcode", "Keywords", "Version", "ProcessID", "ThreadID", "ActivityID", "Security_UserID",
	"Image", "CommandLine", "ParentImage", "ParentCommandLine", "User", "ProcessId", "ParentProcessId",
	"ProcessGuid", "ParentProcessGuid", "CurrentDirectory", "IntegrityLevel", "Hashes", "LogonId",
	"LogonGuid", "TerminalSessionId", "UtcTime", "RuleName", "OriginalFileName", "Description",
	"Product", "Company", "FileVersion", "ParentUser", "TargetFilename", "TargetObject", "Details",
	"EventType", "CreationUtcTime", "DestinationIp", "DestinationPort", "DestinationHostname",
	"SourceIp", "SourcePort", "SourceHostname", "Protocol", "Initiated", "QueryName", "QueryResults",
	"QueryStatus", "ImageLoaded", "Signed", "Signature", "SignatureStatus", "SourceImage",
	"TargetImage", "GrantedAccess", "CallTrace", "SubjectUserSid", "SubjectUserName",
	"SubjectDomainName", "SubjectLogonId", "TargetUserSid", "TargetUserName", "TargetDomainName",
	"TargetLogonId", "LogonType", "LogonProcessName", "AuthenticationPackageName", "WorkstationName",
	"IpAddress", "IpPort", "NewProcessName", "NewProcessId", "ParentProcessName", "TokenElevationType",
	"MandatoryLabel", "ServiceName", "ObjectName", "ShareName", "Status", "FailureReason",
	"ScriptBlockText", "Path", "HostApplication",
	// The syslog transport fields.
	"log.source.address", "vigil.transport",
}

// docKeyOf is the interned key of each code (index 0 unused), and
// docKeyCode maps an interned key to its code (0: spelled out). The
// well-known names are interned first thing (initBinaryKeys runs in the
// package's init, once the key table exists), so their keys are small and
// a slice indexed by key suffices.
var (
	docKeyOf   []Key
	docKeyCode []uint16
)

func initBinaryKeys() {
	docKeyOf = make([]Key, len(docKeys)+1)
	for i, name := range docKeys {
		docKeyOf[i+1] = Intern(name)
	}
	docKeyCode = make([]uint16, slices.Max(docKeyOf)+1)
	for code, k := range docKeyOf[1:] {
		if docKeyCode[k] != 0 {
			panic("event: duplicate binary key " + docKeys[code])
		}
		docKeyCode[k] = uint16(code + 1)
	}
}

func codeOf(k Key) uint64 {
	if int(k) < len(docKeyCode) {
		return uint64(docKeyCode[k])
	}
	return 0
}
