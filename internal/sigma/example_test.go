package sigma_test

import (
	"fmt"

	"github.com/vigilsec/vigil/internal/sigma"
)

func ExampleParse() {
	src := `title: Encoded PowerShell
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\powershell.exe'
        CommandLine|windash|contains: ' -enc '
    filter_main:
        ParentImage: 'C:\Windows\System32\svchost.exe'
    condition: selection and not 1 of filter_*
level: high
`
	rules, err := sigma.Parse([]byte(src), "example.yml")
	if err != nil {
		fmt.Println(err)
		return
	}
	d := rules[0].Detection
	for _, it := range d.Searches["selection"].Groups[0].Items {
		fmt.Printf("%s %s: %d pattern(s), first %q\n", it.Field, it.Method, len(it.Values[0].Patterns), it.Values[0].Patterns[0].String())
	}
	fmt.Println(d.Conditions[0].Resolved)
	// Output:
	// Image endswith: 1 pattern(s), first "\\powershell.exe"
	// CommandLine contains: 5 pattern(s), first " -enc "
	// (selection and not filter_main)
}

func ExampleParse_error() {
	src := "title: x\nlogsource: {product: windows}\ndetection:\n    sel:\n        CommandLine|contians: evil\n    condition: sel\n"
	_, err := sigma.Parse([]byte(src), "rules/x.yml")
	fmt.Println(err)
	// Output:
	// rules/x.yml:5:21: unknown modifier "contians"
}
