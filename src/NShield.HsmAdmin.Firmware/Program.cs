// nshield-sim-firmware: the simulated nShield 5s module firmware. sshd runs it as the forced command of each endpoint.
// Thin on purpose: everything lives in NShield.HsmAdmin.Firmware.FirmwareMain (engine) so the InProcess transport shares it.
return NShield.HsmAdmin.Firmware.FirmwareMain.Run(args, System.Console.OpenStandardInput(), System.Console.OpenStandardOutput());
