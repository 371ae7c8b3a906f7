module bpfguard-cgo

go 1.19
