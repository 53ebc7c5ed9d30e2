module github.com/telepathine/telepathine

go 1.26.8

require (
	capnproto.org/go/capnp/v3 v3.1.0-alpha.2
	github.com/stretchr/testify v1.12.1
	golang.org/x/sync v0.25.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/colega/zeropool v0.0.0-20230505084239-6fb4a4f75381 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)

tool (
	capnproto.org/go/capnp/v3/capnpc-go
	google.golang.org/protobuf/cmd/protoc-gen-go
)
