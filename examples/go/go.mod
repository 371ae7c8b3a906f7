module bpfguard-go

go 1.19
