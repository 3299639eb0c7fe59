using System.Text;
using RelayAppliance.Host.Configuration;
using RelayAppliance.Server.Accounts;

namespace RelayAppliance.Host.Commands;

/// <summary>
/// `relayd user add|passwd|del|list`. Passwords never come from the command line (they would show in ps and shell
/// history): read from standard input when it is redirected, otherwise prompted without echo.
/// </summary>
internal static class UserCommand
{
    public static int Run(RelaydConfiguration configuration, string[] words, TextWriter output, TextWriter error)
    {
        var store = new UserStore(configuration.DataDirectory);
        var iterations = configuration.Settings.Users.Pbkdf2Iterations;
        switch (words)
        {
            case ["list"]:
                foreach (var user in store.List())
                {
                    output.WriteLine(user);
                }
                return Program.ExitOk;
            case ["add", var address]:
                RequireValid(address);
                if (store.Exists(address))
                {
                    error.WriteLine($"relayd: user {address} already exists (use 'relayd user passwd')");
                    return Program.ExitFailure;
                }
                Directory.CreateDirectory(configuration.DataDirectory);
                store.SetPassword(address, ReadPassword(), iterations);
                output.WriteLine($"added {address}");
                return Program.ExitOk;
            case ["passwd", var address]:
                RequireValid(address);
                if (!store.Exists(address))
                {
                    error.WriteLine($"relayd: no user {address}");
                    return Program.ExitFailure;
                }
                store.SetPassword(address, ReadPassword(), iterations);
                output.WriteLine($"changed password of {address}");
                return Program.ExitOk;
            case ["del", var address]:
                if (!store.Remove(address))
                {
                    error.WriteLine($"relayd: no user {address}");
                    return Program.ExitFailure;
                }
                output.WriteLine($"deleted {address}");
                return Program.ExitOk;
            default:
                throw new UsageException("usage: relayd user add|passwd|del ADDRESS, or relayd user list");
        }
    }

    private static void RequireValid(string address)
    {
        if (!UserStore.IsValidAddress(address))
        {
            throw new UsageException($"'{address}' is not a valid user name (no spaces, colons or control characters)");
        }
    }

    private static string ReadPassword()
    {
        string? password;
        if (Console.IsInputRedirected)
        {
            password = Console.In.ReadLine();
        }
        else
        {
            password = Prompt("Password: ");
            if (Prompt("Again: ") != password)
            {
                throw new UsageException("the passwords do not match");
            }
        }
        if (string.IsNullOrEmpty(password))
        {
            throw new UsageException("empty password");
        }
        return password;
    }

    private static string Prompt(string label)
    {
        Console.Error.Write(label);
        var text = new StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                Console.Error.WriteLine();
                return text.ToString();
            }
            if (key.Key == ConsoleKey.Backspace)
            {
                if (text.Length > 0)
                {
                    text.Length--;
                }
            }
            else if (!char.IsControl(key.KeyChar))
            {
                text.Append(key.KeyChar);
            }
        }
    }
}
