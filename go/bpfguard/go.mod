module bpfguard.local/bpfguard

go 1.19
