module bpfguard-go

go 1.19

require bpfguard.local/bpfguard v0.0.0

// the module in this tree: no network, no go.sum entry
replace bpfguard.local/bpfguard => ../../go/bpfguard
