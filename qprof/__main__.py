from qprof.cli.app import main

main()
