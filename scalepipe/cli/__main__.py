from scalepipe.cli import main

main()
