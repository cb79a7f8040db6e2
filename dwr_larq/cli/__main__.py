from dwr_larq.cli.main import main

main()
