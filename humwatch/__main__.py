from humwatch.cli import main

main()
