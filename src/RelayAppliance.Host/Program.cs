Console.WriteLine("relayd");
