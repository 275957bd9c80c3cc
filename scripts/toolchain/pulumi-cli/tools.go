//go:build tools

// Package tools pins the Pulumi CLI (cmd/pulumi) and the SDK package whose Version variable the
// build stamps, so `go build` in this folder resolves both from go.mod/go.sum at v3.274.1.
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
	_ "github.com/pulumi/pulumi/sdk/v3/go/common/version"
)
