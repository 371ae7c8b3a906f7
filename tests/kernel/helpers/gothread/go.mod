module bpfguard/gothread

go 1.19
