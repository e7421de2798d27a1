package parse

import (
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// Windows writes some event data as message parameters, "%%" and a
// message number of the Security log's parameter file (msobjs.dll):
// AccessList "%%1538 %%4416 %%4417", FailureReason "%%2313",
// TokenElevationType "%%1936", ImpersonationLevel "%%1833". Event Viewer
// shows each one as its message string. SigmaHQ rules are written against
// both forms (AccessList|contains: '%%4484', and AccessList|contains:
// 'WriteData'), so a value made only of parameters keeps its raw text as
// its first value and gets the rendered text as a second value of the same
// field: a rule for either form matches, and ev.Str still returns the raw
// text. Numbers not in the table stay "%%N" in the rendered text, as Event
// Viewer leaves them.

// winMsgs maps a parameter message number to its text, as Windows Server
// 2019's msobjs.dll defines it (the ranges the Security log's common events
// use: standard and object-specific access rights, logon failure reasons,
// yes/no and other enumerations, token elevation types, user account
// control flags, audit policy changes and categories).
var winMsgs = func() map[uint16]string {
	m := map[uint16]string{}
	seq := func(first uint16, texts ...string) {
		for i, s := range texts {
			if s != "" {
				m[first+uint16(i)] = s
			}
		}
	}
	// Standard access rights.
	seq(1537, "DELETE", "READ_CONTROL", "WRITE_DAC", "WRITE_OWNER", "SYNCHRONIZE", "ACCESS_SYS_SEC", "MAX_ALLOWED")
	for bit := range uint16(16) {
		m[1552+bit] = "Unknown specific access (bit " + strconv.Itoa(int(bit)) + ")"
	}
	// Enumerations of 47xx and 46xx events.
	seq(1793, "<value not set>", "<never>", "Enabled", "Disabled", "All", "None")
	seq(1801, "Granted by", "Denied by", "Denied by Integrity Policy check", "Granted by Ownership", "Not granted",
		"Granted by NULL DACL", "Denied by Empty DACL", "Granted by NULL Security Descriptor", "Unknown or unchecked",
		"Not granted due to missing", "Granted by ACE on parent folder", "Denied by ACE on parent folder",
		"Granted by Central Access Rule", "NOT Granted by Central Access Rule", "Granted by parent folder's Central Access Rule",
		"NOT Granted by parent folder's Central Access Rule")
	seq(1825, "TRUE", "FALSE")
	seq(1832, "Identification", "Impersonation")
	seq(1840, "Delegation", "Denied by Process Trust Label ACE", "Yes", "No", "System", "Not Available", "Default",
		"DisallowMmConfig", "Off", "Auto")
	// Registry value types and operations (4657).
	seq(1872, "REG_NONE", "REG_SZ", "REG_EXPAND_SZ", "REG_BINARY", "REG_DWORD", "REG_DWORD_BIG_ENDIAN", "REG_LINK",
		"REG_MULTI_SZ (New lines are replaced with *. A * is replaced with **)", "REG_RESOURCE_LIST",
		"REG_FULL_RESOURCE_DESCRIPTOR", "REG_RESOURCE_REQUIREMENTS_LIST", "REG_QWORD")
	seq(1904, "New registry value created", "Existing registry value modified", "Registry value deleted")
	// Token elevation types (4688).
	seq(1936, "TokenElevationTypeDefault (1)", "TokenElevationTypeFull (2)", "TokenElevationTypeLimited (3)")
	// User account control flags (4720, 4738, 4742): one message per flag
	// and state, 2048+bit for cleared and 2080+bit for set.
	uac := [32]string{"Account", "Home Directory Required", "Password Not Required", "Temp Duplicate Account",
		"Normal Account", "MNS Logon Account", "Interdomain Trust Account", "Workstation Trust Account",
		"Server Trust Account", "Don't Expire Password", "Account", "Encrypted Text Password Allowed",
		"Smartcard Required", "Trusted For Delegation", "Not Delegated", "Use DES Key Only", "Don't Require Preauth",
		"Password Expired", "Trusted To Authenticate For Delegation", "Exclude Authorization Information",
		"", "Protect Kerberos Service Tickets with AES Keys"}
	for bit, name := range uac {
		if name == "" {
			name = "Undefined UserAccountControl Bit " + strconv.Itoa(bit)
		}
		m[2048+uint16(bit)] = "'" + name + "' - Disabled"
		m[2080+uint16(bit)] = "'" + name + "' - Enabled"
	}
	// Bits 0 and 10 (ACCOUNTDISABLE, LOCKOUT) read as states.
	m[2048], m[2080] = "Account Enabled", "Account Disabled"
	m[2058], m[2090] = "Account Unlocked", "Account Locked"
	// Logon failure reasons (4625 FailureReason).
	seq(2304, "An Error occured during Logon.", "The specified user account has expired.",
		"The NetLogon component is not active.", "Account locked out.",
		"The user has not been granted the requested logon type at this machine.",
		"The specified account's password has expired.", "Account currently disabled.",
		"Account logon time restriction violation.", "User not allowed to logon at this computer.",
		"Unknown user name or bad password.", "Domain sid inconsistent.", "Smartcard logon is required and was not used.")
	// File, key, process, thread and token access rights (4656, 4663,
	// 5145, 4690, ...).
	seq(4416, "ReadData (or ListDirectory)", "WriteData (or AddFile)", "AppendData (or AddSubdirectory or CreatePipeInstance)",
		"ReadEA", "WriteEA", "Execute/Traverse", "DeleteChild", "ReadAttributes", "WriteAttributes")
	seq(4432, "Query key value", "Set key value", "Create sub-key", "Enumerate sub-keys", "Notify about changes to keys",
		"Create Link", "", "", "Enable 64(or 32) bit application to open 64 bit key",
		"Enable 64(or 32) bit application to open 32 bit key")
	seq(4480, "Force process termination", "Create new thread in process", "Set process session ID",
		"Perform virtual memory operation", "Read from process memory", "Write to process memory",
		"Duplicate handle into or out of process", "Create a subprocess of process", "Set process quotas",
		"Set process information", "Query process information", "Set process termination port")
	seq(4560, "Force thread termination", "Suspend or resume thread", "Send an alert to thread", "Get thread context",
		"Set thread context", "Set thread information", "Query thread information", "Assign a token to the thread",
		"Cause thread to directly impersonate another thread", "Directly impersonate this thread")
	seq(4592, "AssignAsPrimary", "Duplicate", "Impersonate", "Query", "QuerySource", "AdjustPrivileges", "AdjustGroups",
		"AdjustDefaultDacl", "AdjustSessionID")
	// SAM server, domain, group, alias and user access rights (4661).
	seq(5376, "ConnectToServer", "ShutdownServer", "InitializeServer", "CreateDomain", "EnumerateDomains", "LookupDomain")
	seq(5392, "ReadPasswordParameters", "WritePasswordParameters", "ReadOtherParameters", "WriteOtherParameters",
		"CreateUser", "CreateGlobalGroup", "CreateLocalGroup", "GetLocalGroupMembership", "ListAccounts", "LookupIDs",
		"AdministerServer")
	seq(5408, "ReadInformation", "WriteAccount", "AddMember", "RemoveMember", "ListMembers")
	seq(5424, "AddMember", "RemoveMember", "ListMembers", "ReadInformation", "WriteAccount")
	seq(5440, "ReadGeneralInformation", "ReadPreferences", "WritePreferences", "ReadLogon", "ReadAccount", "WriteAccount",
		"ChangePassword (with knowledge of old password)", "SetPassword (without knowledge of old password)",
		"ListGroups", "ReadGroupMembership", "ChangeGroupMembership")
	// LSA policy access rights.
	seq(5632, "View non-sensitive policy information", "View system audit requirements",
		"Get sensitive policy information", "Modify domain trust relationships",
		"Create special accounts (for assignment of user rights)", "Create a secret object", "Create a privilege",
		"Set default quota limits", "Change system audit requirements", "Administer audit log attributes",
		"Enable/Disable LSA", "Lookup Names/SIDs")
	// Service control manager and service access rights.
	seq(7168, "Connect to service controller", "Create a new service", "Enumerate services",
		"Lock service database for exclusive access", "Query service database lock state",
		"Set last-known-good state of service database")
	seq(7184, "Query service configuration information", "Set service configuration information",
		"Query status of service", "Enumerate dependencies of service", "Start the service", "Stop the service",
		"Pause or continue the service", "Query information from service", "Issue service-specific control commands")
	// Directory service access rights (4662).
	seq(7680, "Create Child", "Delete Child", "List Contents", "Write Self", "Read Property", "Write Property",
		"Delete Tree", "List Object", "Control Access")
	// Audit policy (4719, 4912): categories and changes.
	seq(8272, "System", "Logon/Logoff", "Object Access", "Privilege Use", "Detailed Tracking", "Policy Change",
		"Account Management", "DS Access", "Account Logon")
	seq(8448, "Success removed", "Success Added", "Failure removed", "Failure added", "Success include removed",
		"Success include added", "Success exclude removed", "Success exclude added", "Failure include removed",
		"Failure include added", "Failure exclude removed", "Failure exclude added")
	// Directory service changes (5136 OperationType).
	seq(14674, "Value Added", "Value Deleted")
	return m
}()

// maxWinParams bounds the parameters of one value that are rendered: a
// longer list is left as it is.
const maxWinParams = 64

// renderWinParams returns s with each %%N replaced by its message string
// when s consists only of parameters separated by blanks or commas (the
// separators are kept), and at least one of them is known; ok is false
// otherwise.
func renderWinParams(s string) (string, bool) {
	var b strings.Builder
	known, n := false, 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',':
			b.WriteByte(c)
			i++
			continue
		case c != '%' || i+2 >= len(s) || s[i+1] != '%' || !isDigit(s[i+2]):
			return "", false
		}
		j := i + 2
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		n++
		num, ok := atoi(s[i+2 : j])
		if !ok || n > maxWinParams {
			return "", false
		}
		msg, found := "", false
		if num <= 0xffff {
			msg, found = winMsgs[uint16(num)]
		}
		if found {
			b.WriteString(msg)
			known = true
		} else {
			b.WriteString(s[i:j])
		}
		i = j
	}
	if !known {
		return "", false
	}
	return b.String(), true
}

// winParams gives every string value of fields[from:] that is made of
// message parameters its rendered text as a second value (see winMsgs).
func (st *state) winParams(from int) {
	if !strings.Contains(st.raw, "%%") {
		// The usual case, found at memory speed: no value can hold a
		// parameter (escapes that spell "%%" otherwise are not rendered).
		return
	}
	n := len(st.ev.Fields)
	for i := from; i < n; i++ {
		f := st.ev.Fields[i]
		if f.Value.Kind != event.KindString || len(f.Value.Str) < 3 || strings.IndexByte(f.Value.Str, '%') < 0 {
			continue
		}
		if r, ok := renderWinParams(f.Value.Str); ok {
			st.set(f.Key, event.String(r))
		}
	}
}
