from kubectl_kubeception.cli import main

main()
