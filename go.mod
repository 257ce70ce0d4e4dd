module github.com/gowt/gowt

go 1.26

require (
	github.com/mattn/go-pointer v0.0.1
	github.com/quic-go/quic-go v0.62.0
	github.com/quic-go/webtransport-go v0.13.0
)
