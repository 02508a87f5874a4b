module github.com/kubeception/kubeception/images/node/nodeinit

go 1.26.0
