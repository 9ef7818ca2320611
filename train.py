from thygan.cli.train import train_command

if __name__ == "__main__":
    train_command()
