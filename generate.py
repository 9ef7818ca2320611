from thygan.cli.generate import generate_command

if __name__ == "__main__":
    generate_command()
